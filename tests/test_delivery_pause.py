"""Pause is immediate: once `pause` has answered, no new SMTP transaction starts for the
campaign; activating again resumes where it stopped, no step skipped or repeated."""

import time
from datetime import timedelta

import pytest

from coldsend.core.clock import now
from delivery import engine
from delivery.models import Message
from leads.models import Lead
from tests.delivery_support import (
    Pauser,
    activate,
    add_leads,
    api_url,
    create_account,
    create_campaign,
    pause,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")


def test_a_claim_made_before_the_pause_sends_nothing_after_it(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(3)])
    activate(client_all, campaign_id)
    claims = engine.claim(now(), 10)
    assert len(claims) == 3
    mails = []
    sink.on_mail = mails.append
    pause(client_all, campaign_id)

    assert engine.deliver(claims) == {"paused": 3}
    assert mails == []  # not even MAIL FROM
    assert sink.received == []
    assert not Message.objects.exists()  # handed back untouched
    assert set(Lead.objects.values_list("status", "next_send_at")) == {("PENDING", None)}


@pytest.mark.django_db(transaction=True)
def test_pause_from_another_thread_while_a_send_is_in_the_gate(client_all, sink, clock):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account])
    addresses = [f"l{i}@example.com" for i in range(6)]
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    activate(client_all, campaign_id)
    pauser = Pauser(client_all, campaign_id)
    mail_from: list[int] = []

    def on_mail(address: str) -> None:
        mail_from.append(time.monotonic_ns())
        if not pauser.started():
            pauser.start()
            time.sleep(0.2)  # let the pause reach the campaign's lock while the gate holds it

    sink.on_mail = on_mail
    # SQLite's lock waits are not queued: a slow DATA (outside the gate) lets the pause in.
    sink.data_delay = 0.05
    run_engine()
    assert pauser.join()

    assert [t for t in mail_from if t > pauser.answered] == []
    sent_before = len(sink.received)
    assert 1 <= sent_before < len(addresses)
    assert Lead.objects.filter(next_send_at__isnull=False).count() == 0

    # Resume: every lead gets its one message, none twice.
    sink.on_mail = None
    activate(client_all, campaign_id)
    run_engine()
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(addresses)
    assert set(Message.objects.values_list("status", flat=True)) == {"SENT"}


def test_resume_goes_on_with_the_next_step_at_its_time(client_all, sink, clock):
    steps = [
        {"subject": f"Step {n}", "body": str(n), "delay_days": 0 if n == 1 else 2}
        for n in (1, 2, 3)
    ]
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], steps)
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}])
    activate(client_all, campaign_id)
    run_engine()
    pause(client_all, campaign_id)
    assert Lead.objects.get().next_send_at is None

    clock.shift(timedelta(days=5))  # paused through step 2's date
    run_engine()
    assert len(sink.received) == 1
    activate(client_all, campaign_id)
    lead = Lead.objects.get()
    assert lead.next_send_at == now()  # overdue: due at once
    run_engine()
    clock.shift(timedelta(days=1))
    run_engine()
    assert [r.message["Subject"] for r in sink.received] == ["Step 1", "Step 2"]  # not 3 yet
    clock.shift(timedelta(days=1))
    run_engine()
    assert [r.message["Subject"] for r in sink.received] == ["Step 1", "Step 2", "Step 3"]
    assert Message.objects.filter(status="SENT").count() == 3


def test_steps_changed_while_paused_go_on_after_current_step(client_all, sink, clock):
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "Two", "body": "2", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], steps)
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}])
    activate(client_all, campaign_id)
    run_engine()
    pause(client_all, campaign_id)
    new_steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "New two", "body": "2", "delay_days": 1},
        {"subject": "New three", "body": "3", "delay_days": 0},
    ]
    response = client_all.patch(
        api_url(f"campaigns/{campaign_id}"), {"steps": new_steps}, format="json"
    )
    assert response.status_code == 200, response.content
    activate(client_all, campaign_id)
    clock.shift(timedelta(days=1))
    run_engine()
    assert [r.message["Subject"] for r in sink.received] == ["One", "New two", "New three"]

    # Shortened to one step while paused: the lead is done, the campaign COMPLETED.
    campaign2 = create_campaign(client_all, [create_account(client_all, sink)], steps, name="B")
    add_leads(client_all, campaign2, [{"email": "bob@example.com"}])
    activate(client_all, campaign2)
    run_engine()
    pause(client_all, campaign2)
    client_all.patch(api_url(f"campaigns/{campaign2}"), {"steps": steps[:1]}, format="json")
    # Nothing is left to send: activate answers the state it left the campaign in.
    assert activate(client_all, campaign2)["status"] == "COMPLETED"
    assert client_all.get(api_url(f"campaigns/{campaign2}")).json()["status"] == "COMPLETED"
    assert Lead.objects.get(email="bob@example.com").status == "COMPLETED"
