"""A campaign sends its steps in order: step 1 at activation, each next step `delay_days` after
the previous one, the lead goes PENDING → CONTACTED → COMPLETED, then the campaign COMPLETED."""

from datetime import timedelta

import pytest

from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    activate,
    add_lead,
    add_leads,
    api_url,
    campaign,
    create_account,
    create_campaign,
    leads_of,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "Step one", "body": "First", "delay_days": 0},
    {"subject": "Step two", "body": "Second", "delay_days": 2},
    {"subject": "Step three", "body": "Third", "delay_days": 3},
]


def subjects(sink, address):
    return [r.message["Subject"] for r in sink.to(address)]


def test_steps_go_in_order_after_their_delays(client_all, sink, clock):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account], STEPS)
    add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    lead = Lead.objects.get(email="ann@example.com")
    assert (lead.current_step, lead.next_send_at) == (0, None)  # not ACTIVE yet

    activate(client_all, campaign_id)
    assert Lead.objects.get(pk=lead.pk).next_send_at is not None
    run_engine()

    assert subjects(sink, "ann@example.com") == ["Step one"]
    assert leads_of(client_all, campaign_id)["ann@example.com"]["status"] == "CONTACTED"
    lead.refresh_from_db()
    assert lead.current_step == 1
    sent_at = lead.last_sent_at
    assert lead.next_send_at == sent_at + timedelta(days=2)

    clock.shift(timedelta(days=2) - timedelta(seconds=1))
    run_engine()
    assert subjects(sink, "ann@example.com") == ["Step one"]  # not yet due

    clock.shift(timedelta(seconds=1))
    run_engine()
    assert subjects(sink, "ann@example.com") == ["Step one", "Step two"]

    clock.shift(timedelta(days=3))
    run_engine()
    assert subjects(sink, "ann@example.com") == ["Step one", "Step two", "Step three"]
    lead.refresh_from_db()
    assert (lead.status, lead.current_step, lead.next_send_at) == ("COMPLETED", 3, None)

    body = campaign(client_all, campaign_id)
    assert body["status"] == "COMPLETED"
    assert body["stats"]["sent"] == 3
    assert body["stats"]["leads_by_status"]["COMPLETED"] == 1

    clock.shift(timedelta(days=30))
    run_engine()
    assert len(sink.received) == 3  # nothing is ever sent twice


def test_zero_delays_send_the_whole_sequence_at_once_and_complete(client_all, sink, clock):
    account = create_account(client_all, sink)
    steps = [
        {"subject": "A", "body": "a", "delay_days": 0},
        {"subject": "", "body": "b", "delay_days": 0},
    ]
    campaign_id = create_campaign(client_all, [account], steps)
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(5)])
    activate(client_all, campaign_id)
    run_engine()
    assert sorted((r.rcpt_tos[0], r.message["Subject"]) for r in sink.received) == sorted(
        [(f"l{i}@example.com", "A") for i in range(5)]
        + [(f"l{i}@example.com", "Re: A") for i in range(5)]
    )
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
    assert {lead["status"] for lead in leads_of(client_all, campaign_id).values()} == {"COMPLETED"}


def test_an_active_campaign_without_leads_stays_active(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    activate(client_all, campaign_id)
    run_engine()
    assert campaign(client_all, campaign_id)["status"] == "ACTIVE"


def test_leads_added_to_a_completed_campaign_make_it_active_and_are_sent(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "first@example.com")
    activate(client_all, campaign_id)
    run_engine()
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"

    add_lead(client_all, campaign_id, "second@example.com")
    assert campaign(client_all, campaign_id)["status"] == "ACTIVE"
    run_engine()
    assert [r.rcpt_tos for r in sink.received] == [["first@example.com"], ["second@example.com"]]
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"


def test_a_pending_lead_is_not_sent_before_activation(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "ann@example.com")
    run_engine()
    assert sink.received == []
    assert leads_of(client_all, campaign_id)["ann@example.com"]["status"] == "PENDING"


def test_a_native_account_sends_through_the_services_outgoing_mail(client_all, clock, mailoutbox):
    response = client_all.post(
        api_url("sender_accounts"),
        {"type": "NATIVE", "email": "team@coldsend.example", "display_name": "Team"},
        format="json",
    )
    assert response.status_code == 201, response.content
    account = response.json()["id"]
    SenderAccount.objects.filter(pk=account).update(min_interval_seconds=0, max_interval_seconds=0)
    campaign_id = create_campaign(client_all, [account])
    add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    activate(client_all, campaign_id)
    run_engine()
    [sent] = mailoutbox  # EMAIL_URL's backend (memory in tests, the console in development)
    message = sent.message()
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Team <team@coldsend.example>"
    assert message["Subject"] == "Hello Ann"
    assert message["Message-ID"].endswith("@coldsend.example>")
    assert leads_of(client_all, campaign_id)["ann@example.com"]["status"] == "COMPLETED"
