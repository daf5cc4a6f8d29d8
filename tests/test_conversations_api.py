"""Conversations over the API (API.md §11): `POST leads/{id}/reply` queues a plain-text answer in
the lead's thread, a worker round sends it through a real SMTP server (aiosmtpd), and
`GET leads/{id}/messages` lists it with the steps, oldest first, as QUEUED then SENT; its 409s,
403, 404 and 400s. (Replies read from a real mailbox: tests/test_conversations_inbox.py.)"""

from datetime import timedelta

import pytest

from coldsend.api.fields import LINE_BREAK_MESSAGE
from coldsend.core.clock import now
from delivery.models import Answer, InboundMessage
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
    {"subject": "Quick question", "body": "Hi {{first_name|there}}", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 0},
]
LEAD = "ann@example.com"
TOO_LONG = "Ensure this field has no more than {} characters."
OUTBOUND_FIELDS = {
    "id", "direction", "kind", "at", "step", "sender_account_id", "subject", "message_id",
    "status", "attempts", "error", "sent_at",
}  # fmt: skip
INBOUND_FIELDS = {
    "id", "direction", "kind", "at", "from", "subject", "text", "message_id", "in_reply_to",
    "received_at",
}  # fmt: skip


def z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def contacted_lead(client, sink, steps=STEPS) -> tuple[str, str, str]:
    """(account, campaign, lead): the lead was sent every step."""
    account_id = create_account(client, sink)
    campaign_id = create_campaign(client, [account_id], steps)
    lead_id = add_lead(client, campaign_id, LEAD, first_name="Ann")
    activate(client, campaign_id)
    run_engine()
    assert len(sink.to(LEAD)) == len(steps)
    return account_id, campaign_id, lead_id


def reply(client, lead_id: str, body: object = None, **fields: object):
    data = {"body": "Thanks Ann, Tuesday works." if body is None else body, **fields}
    return client.post(api_url(f"leads/{lead_id}/reply"), data, format="json")


def conversation(client, lead_id: str, **query: object) -> list[dict]:
    response = client.get(api_url(f"leads/{lead_id}/messages"), query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_an_answer_is_queued_then_sent_in_the_thread(client_all, sink, clock):
    account_id, _, lead_id = contacted_lead(client_all, sink)
    first, second = (r.message for r in sink.to(LEAD))

    response = reply(client_all, lead_id, "Thanks Ann,\nTuesday works.\n\n-- Alice")

    assert response.status_code == 202, response.content
    item = response.json()
    assert set(item) == OUTBOUND_FIELDS
    assert (item["direction"], item["kind"], item["step"], item["status"]) == (
        "outbound", "ANSWER", None, "QUEUED"
    )  # fmt: skip
    assert (item["attempts"], item["error"], item["sent_at"]) == (0, None, None)
    assert item["sender_account_id"] == account_id
    assert item["subject"] == "Re: Quick question"
    assert item["at"] == z(WEDNESDAY_NOON)  # when it was queued
    assert (item["message_id"][0], item["message_id"][-1]) == ("<", ">")
    assert conversation(client_all, lead_id)[-1] == item  # listed at once, QUEUED

    clock.shift(timedelta(seconds=5))
    run_engine()  # the worker round queues it; the immediate task backend sends it

    [sent] = [i for i in conversation(client_all, lead_id) if i["kind"] == "ANSWER"]
    assert (sent["id"], sent["status"], sent["attempts"], sent["error"]) == (
        item["id"], "SENT", 1, None
    )  # fmt: skip
    assert sent["sent_at"] is not None
    assert sent["at"] == sent["sent_at"]
    received = sink.to(LEAD)
    assert len(received) == 3
    mail = received[-1].message
    assert mail["Message-ID"] == item["message_id"]
    assert mail["In-Reply-To"] == second["Message-ID"]  # our latest: no reply came in
    assert mail["References"].split() == [first["Message-ID"], second["Message-ID"]]
    assert mail["Subject"] == "Re: Quick question"
    assert mail["Subject"].count("Re:") == 1
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None
    assert not mail.is_multipart()
    assert mail.get_content_type() == "text/plain"
    assert received[-1].body.rstrip("\n") == "Thanks Ann,\nTuesday works.\n\n-- Alice"
    assert "unsubscribe" not in received[-1].body.lower()
    lead = client_all.get(api_url(f"leads/{lead_id}")).json()
    assert lead["status"] == "COMPLETED"  # an answer never moves the lead


def test_the_answer_event_carries_it(client_all, sink, clock):
    _, campaign_id, lead_id = contacted_lead(client_all, sink)
    item = reply(client_all, lead_id).json()
    run_engine()

    events = client_all.get(api_url("events"), {"type": "message.sent", "lead_id": lead_id}).json()[
        "results"
    ]

    [answered] = [e for e in events if e["data"]["message_kind"] == "ANSWER"]
    assert answered["data"]["message"] == item["id"]
    assert answered["data"]["message_id"] == item["message_id"]
    assert answered["data"]["step"] is None
    assert answered["data"]["campaign_id"] == campaign_id
    steps = [e["data"]["step"] for e in events if e["data"]["message_kind"] == "STEP"]
    assert sorted(steps) == [1, 2]


def test_a_given_subject_is_used_as_given(client_all, sink, clock):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])
    item = reply(client_all, lead_id, subject="Our call on Tuesday").json()
    run_engine()
    assert item["subject"] == "Our call on Tuesday"
    assert sink.to(LEAD)[-1].message["Subject"] == "Our call on Tuesday"


def test_the_conversation_lists_steps_answers_and_replies_oldest_first(client_all, sink, clock):
    _, _, lead_id = contacted_lead(client_all, sink)  # both steps at noon
    clock.shift(timedelta(hours=1))
    inbound = InboundMessage.objects.create(
        lead_id=lead_id,
        kind=InboundMessage.Kind.REPLY,
        from_address=LEAD,
        subject="Re: Quick question",
        text="Sounds good. When?",
        message_id="<r1@example.com>",
        in_reply_to=sink.to(LEAD)[-1].message["Message-ID"],
        received_at=now() - timedelta(minutes=30),
    )
    answer = reply(client_all, lead_id).json()  # queued at 13:00
    run_engine()  # sent at 13:00

    items = conversation(client_all, lead_id)

    assert [(i["direction"], i["kind"], i.get("step")) for i in items] == [
        ("outbound", "STEP", 1),
        ("outbound", "STEP", 2),
        ("inbound", "REPLY", None),
        ("outbound", "ANSWER", None),
    ]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[0]["at"] == items[1]["at"]  # the same instant: by id
    assert items[0]["id"] < items[1]["id"]
    reply_item = items[2]
    assert set(reply_item) == INBOUND_FIELDS
    assert reply_item == {
        "id": str(inbound.pk),
        "direction": "inbound",
        "kind": "REPLY",
        "at": "2026-03-04T12:30:00Z",
        "from": LEAD,
        "subject": "Re: Quick question",
        "text": "Sounds good. When?",
        "message_id": "<r1@example.com>",
        "in_reply_to": items[1]["message_id"],
        "received_at": "2026-03-04T12:30:00Z",
    }
    assert items[3]["id"] == answer["id"]
    assert items[3]["status"] == "SENT"
    # The answer went in reply to the lead's reply, not to our latest step.
    assert sink.to(LEAD)[-1].message["In-Reply-To"] == "<r1@example.com>"

    # Pages of one: the same items, in the same order, forwards and back.
    seen, url = [], api_url(f"leads/{lead_id}/messages") + "?limit=1"
    pages = []
    while url:
        page = client_all.get(url).json()
        pages.append(page)
        seen += page["results"]
        url = page["next"]
    assert seen == items
    assert pages[0]["previous"] is None
    back = client_all.get(pages[-1]["previous"]).json()
    assert back["results"] == items[2:3]


def test_an_inbound_message_at_the_same_instant_comes_after_the_outbound_one(
    client_all, sink, clock
):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])
    InboundMessage.objects.create(
        lead_id=lead_id,
        kind=InboundMessage.Kind.AUTO_REPLY,
        from_address=LEAD,
        subject="Out of office",
        received_at=now(),
    )
    items = conversation(client_all, lead_id)
    assert [(i["direction"], i["kind"]) for i in items] == [
        ("outbound", "STEP"),
        ("inbound", "AUTO_REPLY"),
    ]
    assert items[0]["at"] == items[1]["at"]


def test_a_lead_never_contacted_is_409_invalid_state(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, LEAD)

    response = reply(client_all, lead_id)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This lead was never contacted: there is no thread to answer in.",
        "code": "invalid_state",
        "status": "PENDING",
    }
    assert not Answer.objects.exists()


def test_a_suppressed_address_is_409_suppressed(client_all, sink, clock):
    steps = [STEPS[0], {"subject": "Again", "body": "Second", "delay_days": 1}]
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id], steps)
    lead_id = add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    run_engine()
    sink.reject.add(LEAD)  # step 2 bounces: the address is suppressed
    clock.shift(timedelta(days=1, hours=1))
    run_engine()
    assert client_all.get(api_url(f"leads/{lead_id}")).json()["status"] == "BOUNCED"

    response = reply(client_all, lead_id)

    assert response.status_code == 409
    assert response.json()["code"] == "suppressed"
    assert set(response.json()) == {"detail", "code"}
    assert not Answer.objects.exists()


def test_a_disabled_account_is_409_not_ready(client_all, sink, clock):
    account_id, _, lead_id = contacted_lead(client_all, sink)
    disabled = client_all.patch(
        api_url(f"sender_accounts/{account_id}"), {"status": "DISABLED"}, format="json"
    )
    assert disabled.status_code == 200, disabled.content

    response = reply(client_all, lead_id)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The sender account of this lead's thread is deleted or DISABLED.",
        "code": "not_ready",
        "problems": ["The sender account of the thread is deleted or DISABLED."],
    }
    assert not Answer.objects.exists()


def test_it_needs_leads_reply(make_client, client_all, sink, clock):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])
    scopes = ["leads:read", "leads:create", "leads:delete", "campaigns:all"]

    response = reply(make_client(scopes), lead_id)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: leads:reply",
        "required": ["leads:reply"],
        "granted": sorted(scopes),
    }
    assert reply(make_client(["leads:reply"]), lead_id).status_code == 202
    assert reply(make_client(["leads:all"]), lead_id).status_code == 202


def test_another_workspaces_lead_is_404(make_client, other_workspace, sink, clock):
    theirs = make_client(["*"], other_workspace)
    _, _, lead_id = contacted_lead(theirs, sink, STEPS[:1])

    response = reply(make_client(["*"]), lead_id)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert not Answer.objects.exists()


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, {"body": ["This field is required."]}),
        ({"body": ""}, {"body": ["This field may not be blank."]}),
        ({"body": " \n\t "}, {"body": ["This field may not be blank."]}),
        ({"body": 42}, {"body": ["Must be a string."]}),
        ({"body": None}, {"body": ["This field may not be null."]}),
        ({"body": "x" * 100_001}, {"body": [TOO_LONG.format(100000)]}),
        ({"body": "ok", "subject": "a\r\nBcc: x@evil.test"}, {"subject": [LINE_BREAK_MESSAGE]}),
        ({"body": "ok", "subject": "s" * 999}, {"subject": [TOO_LONG.format(998)]}),
        ({"body": "ok", "subject": ""}, {"subject": ["This field may not be blank."]}),
        ({"body": "ok", "to": "else@example.com"}, {"to": ["Unknown field."]}),
    ],
)  # fmt: skip
def test_invalid_bodies_are_400(client_all, sink, clock, data, errors):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])

    response = client_all.post(api_url(f"leads/{lead_id}/reply"), data, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Answer.objects.exists()


def test_the_longest_body_is_accepted(client_all, sink, clock):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])
    assert reply(client_all, lead_id, "x" * 100_000).status_code == 202


def test_a_bad_cursor_is_400(client_all, sink, clock):
    _, _, lead_id = contacted_lead(client_all, sink, STEPS[:1])
    for cursor in ("x", "cD0x", "cD1hYmM="):
        response = client_all.get(api_url(f"leads/{lead_id}/messages"), {"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.json() == {"cursor": ["Invalid cursor."]}
