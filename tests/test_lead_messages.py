"""`GET leads/{id}/messages` (API.md §7 and §11): what the engine sent or attempted for one lead,
as received by a real SMTP server, oldest first, cursor-paginated; 404 across workspaces. (Answers
and inbound messages in the same list: tests/test_conversations_api.py.)"""

from datetime import timedelta

import pytest

from leads.models import Lead
from tests.delivery_support import (
    WEDNESDAY_NOON,
    activate,
    add_lead,
    create_account,
    create_campaign,
    run_engine,
)
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "Hello {{first_name|there}}", "body": "First", "delay_days": 0},
    {"subject": "", "body": "Second", "delay_days": 0},
    {"subject": "Last one", "body": "Third", "delay_days": 0},
]
FIELDS = [
    "id", "direction", "kind", "at", "step", "sender_account_id", "subject", "message_id",
    "status", "attempts",
]  # fmt: skip


def messages_url(lead_id: str, **query: object) -> str:
    url = api_url(f"leads/{lead_id}/messages")
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def messages_of(client, lead_id: str) -> list[dict]:
    response = client.get(messages_url(lead_id))
    assert response.status_code == 200, response.content
    assert response.json()["next"] is None
    return response.json()["results"]


def test_every_step_sent_is_listed_oldest_first_as_the_server_received_it(client_all, sink, clock):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account], STEPS)
    lead_id = add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    assert messages_of(client_all, lead_id) == []  # nothing sent yet

    activate(client_all, campaign_id)
    run_engine()

    received = [r.message for r in sink.to("ann@example.com")]
    assert len(received) == 3
    listed = messages_of(client_all, lead_id)
    assert [m["step"] for m in listed] == [1, 2, 3]
    assert [m["subject"] for m in listed] == ["Hello Ann", "Re: Hello Ann", "Last one"]
    assert [m["message_id"] for m in listed] == [r["Message-ID"] for r in received]
    for message in listed:
        assert set(message) == {*FIELDS, "error", "sent_at"}
        assert (message["direction"], message["kind"]) == ("outbound", "STEP")
        assert message["at"] == message["sent_at"]
        assert (message["message_id"][0], message["message_id"][-1]) == ("<", ">")
        assert message["sender_account_id"] == account
        assert (message["status"], message["attempts"], message["error"]) == ("SENT", 1, None)
        assert message["sent_at"] == WEDNESDAY_NOON.isoformat().replace("+00:00", "Z")
    assert len({m["id"] for m in listed}) == 3


def test_pages_go_oldest_first_with_next_and_previous(client_all, sink, clock):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account], STEPS)
    lead_id = add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    run_engine()

    first = client_all.get(messages_url(lead_id, limit=2)).json()
    assert [m["step"] for m in first["results"]] == [1, 2]
    assert first["previous"] is None
    second = client_all.get(first["next"]).json()
    assert [m["step"] for m in second["results"]] == [3]
    assert second["next"] is None
    back = client_all.get(second["previous"]).json()
    assert [m["step"] for m in back["results"]] == [1, 2]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"cursor": "x"}, "cursor")],
)
def test_bad_paging_is_400(client_all, campaign, query, field):
    lead = Lead.objects.create(workspace=campaign.workspace, campaign=campaign, email="a@x.io")

    response = client_all.get(messages_url(lead.pk, **query))

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_bounce_shows_bounced_with_the_servers_answer(client_all, sink, clock):
    sink.reject.add("gone@example.com")
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, "gone@example.com")
    activate(client_all, campaign_id)
    run_engine()

    [message] = messages_of(client_all, lead_id)
    assert (message["step"], message["status"], message["attempts"]) == (1, "BOUNCED", 1)
    assert message["sent_at"] is None
    assert message["at"] == WEDNESDAY_NOON.isoformat().replace("+00:00", "Z")  # attempted then
    assert "550" in message["error"]
    assert client_all.get(api_url(f"leads/{lead_id}")).json()["status"] == "BOUNCED"


def test_a_deferred_message_shows_failed_until_its_retry_is_sent(client_all, sink, clock):
    sink.defer.add("later@example.com")
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS[:1])
    lead_id = add_lead(client_all, campaign_id, "later@example.com")
    activate(client_all, campaign_id)
    run_engine()

    [message] = messages_of(client_all, lead_id)
    assert (message["status"], message["attempts"], message["sent_at"]) == ("FAILED", 1, None)
    assert "451" in message["error"]
    lead = client_all.get(api_url(f"leads/{lead_id}")).json()
    assert lead["next_send_at"] is not None  # tried again later

    sink.defer.clear()
    clock.shift(timedelta(hours=1))
    run_engine()

    [again] = messages_of(client_all, lead_id)
    assert again["id"] == message["id"]
    assert (again["status"], again["attempts"], again["error"]) == ("SENT", 2, None)
    assert len(sink.to("later@example.com")) == 1


def test_only_this_leads_messages_are_listed(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS[:1])
    ann = add_lead(client_all, campaign_id, "ann@example.com")
    bob = add_lead(client_all, campaign_id, "bob@example.com")
    activate(client_all, campaign_id)
    run_engine()

    ann_messages, bob_messages = messages_of(client_all, ann), messages_of(client_all, bob)
    assert len(ann_messages) == len(bob_messages) == 1
    assert ann_messages[0]["id"] != bob_messages[0]["id"]


def test_another_workspaces_lead_is_404(make_client, other_workspace, sink, clock):
    theirs = make_client(["*"], other_workspace)
    campaign_id = create_campaign(theirs, [create_account(theirs, sink)], STEPS[:1])
    lead_id = add_lead(theirs, campaign_id, "ann@example.com")
    activate(theirs, campaign_id)
    run_engine()
    assert len(messages_of(theirs, lead_id)) == 1

    response = make_client(["*"]).get(messages_url(lead_id))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("scopes", "status"), [(["leads:read"], 200), (["leads:all"], 200), (["campaigns:read"], 403)]
)
def test_it_needs_leads_read(make_client, campaign, scopes, status):
    lead = Lead.objects.create(workspace=campaign.workspace, campaign=campaign, email="a@x.io")

    response = make_client(scopes).get(messages_url(lead.pk))

    assert response.status_code == status


def test_a_lead_out_of_retries_is_failed_and_found_by_the_status_filter(
    client_all, sink, clock, delivery_settings
):
    sink.defer.add("never@example.com")
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS[:1])
    lead_id = add_lead(client_all, campaign_id, "never@example.com")
    add_lead(client_all, campaign_id, "fine@example.com")
    activate(client_all, campaign_id)
    for _ in range(delivery_settings.SEND_MAX_ATTEMPTS):
        run_engine()
        clock.shift(timedelta(hours=3))

    [message] = messages_of(client_all, lead_id)
    assert (message["status"], message["attempts"]) == ("FAILED", 4)
    failed = client_all.get(api_url("leads"), {"status": "FAILED"}).json()["results"]
    assert [(lead["id"], lead["next_send_at"]) for lead in failed] == [(lead_id, None)]
    stats = client_all.get(api_url(f"campaigns/{campaign_id}")).json()["stats"]
    assert stats["leads_by_status"]["FAILED"] == 1
