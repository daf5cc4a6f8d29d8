"""Webhook deliveries in-process (API.md §10): real flows (the engine sending to the aiosmtpd
sink, tracking and unsubscribe URLs, replies and reports in Dovecot, API actions) record events;
one dispatcher round (`webhooks.dispatch.sweep`, with the immediate task backend delivering
inline) POSTs them to a real HTTP receiver on loopback, which verifies every delivery with the
Standard Webhooks and the Svix libraries. Retries, 410, rotation, the 5-day `failing` rule,
campaign endpoints, the delivery log and redirects are driven the same way, time with
time_machine."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from events.models import Event
from tests.delivery_support import (
    activate,
    add_lead,
    add_leads,
    create_account,
    create_campaign,
    pause,
    run_engine,
)
from tests.imap_support import create_inbox_account, mail, sent_id
from tests.tracking_support import links_in, parts, send_campaign
from tests.urls import api_url
from tests.webhook_support import Receiver, Reply, receiver_fixture, verifies  # noqa: F401
from webhooks.dispatch import sweep
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.usefixtures("webhook_settings")


@pytest.fixture
def webhook_settings(delivery_settings):
    """The immediate backend (a queued task runs inline), with the webhooks' queue."""
    delivery_settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "webhooks"],
        }
    }
    return delivery_settings


C_KEYS = {"campaign_id", "campaign_name", "status"}
L_KEYS = C_KEYS | {"lead_id", "lead_email"}
M_KEYS = L_KEYS | {"sender_account_id", "step", "message", "message_id", "message_kind"}


def hook(client, receiver: Receiver, path: str = "/hook", **fields: Any) -> dict:
    """A new endpoint through the API (its answer, with the secret); the receiver verifies
    what reaches `path` with that secret."""
    body = {"url": receiver.url(path), "event_types": ["*"], **fields}
    response = client.post(api_url("webhooks"), body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.expect(created["secret"], path)
    return created


def of_type(events: list[dict], event_type: str) -> list[dict]:
    return [event for event in events if event["type"] == event_type]


def only(events: list[dict], event_type: str) -> dict:
    found = of_type(events, event_type)
    assert len(found) == 1, (event_type, [e["type"] for e in events])
    return found[0]


def deliveries_log(client, webhook_id: str) -> list[dict]:
    response = client.get(api_url(f"webhooks/{webhook_id}/deliveries?limit=100"))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def endpoint(webhook_id: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get(pk=webhook_id)


def one_event(client, sink, name: str = "Outreach") -> str:
    """A campaign activated through the API (one campaign.activated event); its id."""
    account_id = create_account(client, sink, email=f"{name.lower()}@sender.example")
    campaign_id = create_campaign(client, [account_id], name=name)
    add_lead(client, campaign_id, "ann@example.com")
    activate(client, campaign_id)
    return campaign_id


# Every event type from real flows


def test_a_tracked_campaign_delivers_sent_completed_opens_clicks_and_unsubscribes(
    client_all, sink, clock, receiver
):
    hook(client_all, receiver)
    steps = [
        {"subject": "Hello", "body": "See https://shop.example.com/pricing now", "delay_days": 0}
    ]
    campaign_id = send_campaign(
        client_all,
        sink,
        emails=("ann@example.com", "bob@example.com"),
        tracking={"opens": True, "clicks": True},
        steps=steps,
    )
    ann = parts(sink.to("ann@example.com")[0])
    bob = parts(sink.to("bob@example.com")[0])
    public = Client()
    [pixel] = links_in(ann["text/html"], "o")
    [click] = links_in(ann["text/plain"], "c")
    [unsubscribe] = links_in(bob["text/plain"], "u")
    assert public.get(pixel).status_code == 200
    assert public.get(click).status_code == 302
    assert public.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 200

    sweep()

    events = receiver.events()
    types = sorted(event["type"] for event in events)
    assert types == sorted(
        [
            "campaign.activated",
            "message.sent",
            "message.sent",
            "lead.completed",
            "lead.completed",
            "campaign.completed",
            "message.opened",
            "message.clicked",
            "lead.unsubscribed",
        ]
    )
    assert all(hit.verified for hit in receiver.to())
    for event in events:
        assert set(event) == {"id", "type", "created_at", "workspace", "data"}
        assert event["workspace"] == "acme"
        assert event["data"]["campaign_id"] == campaign_id
    activated = only(events, "campaign.activated")["data"]
    assert set(activated) == C_KEYS | {"reason"}
    assert (activated["status"], activated["reason"]) == ("ACTIVE", "user")
    completed = only(events, "campaign.completed")["data"]
    assert (completed["status"], completed["reason"]) == ("COMPLETED", "finished")
    sent = {e["data"]["lead_email"]: e["data"] for e in of_type(events, "message.sent")}
    assert set(sent) == {"ann@example.com", "bob@example.com"}
    for address, data in sent.items():
        assert set(data) == M_KEYS
        assert (data["step"], data["message_kind"]) == (1, "STEP")
        assert data["message_id"] == sink.to(address)[0].message["Message-ID"]
        assert data["message_id"].startswith("<")
        assert data["message_id"].endswith(">")
        messages = client_all.get(api_url(f"leads/{data['lead_id']}/messages")).json()
        assert [m["id"] for m in messages["results"]] == [data["message"]]
    for event in of_type(events, "lead.completed"):
        assert set(event["data"]) >= L_KEYS
        assert not set(event["data"]) & {"message", "step"}
    opened = only(events, "message.opened")["data"]
    assert set(opened) == M_KEYS
    assert opened["message"] == sent["ann@example.com"]["message"]
    clicked = only(events, "message.clicked")["data"]
    assert set(clicked) == M_KEYS | {"url"}
    assert clicked["url"] == "https://shop.example.com/pricing"
    unsubscribed = only(events, "lead.unsubscribed")["data"]
    assert set(unsubscribed) == L_KEYS
    assert unsubscribed["lead_email"] == "bob@example.com"

    # A delivery's body is the event exactly as GET events/{id} shows it.
    for hit in receiver.to():
        response = client_all.get(api_url(f"events/{hit.id}"))
        assert response.status_code == 200, response.content
        assert response.json() == hit.event
        assert hit.event["id"] == hit.id

    # Delivered once: another round sends nothing again.
    sweep()
    assert len(receiver.to()) == len(events)


@pytest.fixture
def inbox_settings(webhook_settings, dovecot):
    webhook_settings.INBOX_POLL_SECONDS = 0  # every engine round reads the inboxes
    return webhook_settings


@pytest.mark.usefixtures("inbox_settings")
def test_replies_automatic_answers_and_bounce_reports_from_the_inbox(
    client_all, sink, dovecot, clock, receiver
):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    steps = [
        {"subject": "Hello", "body": "Hi!", "delay_days": 0},
        {"subject": "", "body": "Following up", "delay_days": 2},
    ]
    leads = ("ann@example.com", "bob@example.com", "cy@example.com")
    campaign_id = send_campaign(client_all, sink, emails=leads, steps=steps, account_id=account_id)
    hook(client_all, receiver)  # after the sends: only what the inbox brings
    values = {"sender": "alice@sender.example"}
    dovecot.deliver(
        user,
        mail("reply", lead=leads[0], message_id=sent_id(sink, leads[0]), **values),
        mail("out_of_office", lead=leads[1], message_id=sent_id(sink, leads[1]), **values),
        mail("dsn_postfix_550", lead=leads[2], message_id=sent_id(sink, leads[2]), **values),
    )
    for _ in range(50):  # polled: the inbox read is queued by an engine round
        run_engine()
        if Event.objects.filter(type__in=["lead.replied", "lead.auto_replied"]).count() == 2:
            break
        clock.shift(timedelta(seconds=1))

    sweep()

    events = receiver.events()
    replied = only(events, "lead.replied")["data"]
    assert set(replied) >= L_KEYS
    assert (replied["campaign_id"], replied["lead_email"]) == (campaign_id, leads[0])
    assert replied["message_id"] == sent_id(sink, leads[0])
    reply = replied["reply"]
    assert {"from", "subject", "text", "received_at"} <= set(reply)
    assert leads[0] in reply["from"]
    assert reply["subject"] == "Re: Hello"
    assert reply["text"].strip()
    assert reply["text_truncated"] is False
    auto = only(events, "lead.auto_replied")["data"]
    assert (auto["lead_email"], auto["message_id"]) == (leads[1], sent_id(sink, leads[1]))
    assert {"from", "subject", "text", "received_at"} <= set(auto["reply"])
    bounced = only(events, "message.bounced")["data"]
    assert set(bounced) == M_KEYS | {"error", "source"}
    assert (bounced["lead_email"], bounced["source"]) == (leads[2], "report")
    assert bounced["message_id"] == sent_id(sink, leads[2])


def test_bounces_failures_pauses_and_account_errors(client_all, sink, clock, receiver, settings):
    hook(client_all, receiver)
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    dead = [f"dead{i}@example.com" for i in range(5)]
    sink.reject.update(dead)  # 550 5.1.1 at RCPT TO
    sink.data_answers = {"spam@example.com": "554 5.7.1 Message rejected as spam"}
    add_leads(client_all, campaign_id, [{"email": e} for e in [*dead[:4], "spam@example.com"]])
    activate(client_all, campaign_id)
    run_engine()
    add_leads(client_all, campaign_id, [{"email": dead[4]}, {"email": "later@example.com"}])
    run_engine()  # a fifth hard bounce in a row: paused
    sweep()

    events = receiver.events()
    bounces = of_type(events, "message.bounced")
    assert sorted(e["data"]["lead_email"] for e in bounces) == dead
    for event in bounces:
        assert set(event["data"]) == M_KEYS | {"error", "source"}
        assert event["data"]["source"] == "smtp"
        assert "550 5.1.1" in event["data"]["error"]
    failed = only(events, "message.failed")["data"]
    assert set(failed) == M_KEYS | {"error"}
    assert failed["lead_email"] == "spam@example.com"
    assert "554 5.7.1" in failed["error"]
    paused = only(events, "campaign.paused")["data"]
    assert (paused["status"], paused["reason"]) == ("PAUSED", "bounce_rate")

    activate(client_all, campaign_id)  # by hand, then paused by hand
    pause(client_all, campaign_id)
    sweep()
    paused = [e["data"]["reason"] for e in receiver.of_type("campaign.paused")]
    assert paused == ["bounce_rate", "user"]
    # Leads added to the COMPLETED campaign reopened it; then activated by hand.
    reasons = [e["data"]["reason"] for e in receiver.of_type("campaign.activated")]
    assert reasons == ["user", "leads_added", "user"]

    # An account whose login is refused goes into ERROR, and out of it at the re-check.
    sink.refuse_auth = True
    second = create_account(client_all, sink, email="bob@sender.example")
    other = create_campaign(client_all, [second], name="Second")
    add_lead(client_all, other, "zed@example.com")
    activate(client_all, other)
    run_engine()
    sink.refuse_auth = False
    clock.shift(timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS + 1))
    run_engine()
    sweep()
    error = receiver.of_type("sender_account.error")
    assert [e["data"]["sender_account_id"] for e in error] == [second]
    assert set(error[0]["data"]) == {"sender_account_id", "email", "status", "last_error"}
    assert (error[0]["data"]["email"], error[0]["data"]["status"]) == (
        "bob@sender.example",
        "ERROR",
    )
    assert "535" in error[0]["data"]["last_error"]
    [recovered] = receiver.of_type("sender_account.recovered")
    assert recovered["data"] == {
        "sender_account_id": second,
        "email": "bob@sender.example",
        "status": "ACTIVE",
        "last_error": "",
    }
    assert not [hit for hit in receiver.to() if not hit.verified]


# Retries, 410, rotation, failing


def test_a_failed_delivery_is_retried_with_the_same_id_and_a_fresh_signature(
    client_all, sink, clock, receiver
):
    hook(client_all, receiver)
    receiver.script(500)
    one_event(client_all, sink)
    sweep()
    [first] = receiver.to()
    assert first.verified
    sweep()  # not due yet: nothing
    assert len(receiver.to()) == 1

    clock.shift(timedelta(seconds=6))  # past the ~5 s retry (jitter included)
    sweep()
    first, second = receiver.wait_for(2)
    assert second.id == first.id
    assert second.body == first.body
    assert second.timestamp >= first.timestamp + 6
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert second.verified
    sweep()
    clock.shift(timedelta(minutes=10))
    sweep()
    assert len(receiver.to()) == 2  # delivered: never again
    attempts = deliveries_log(client_all, endpoint_id_of(receiver, client_all))
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(2, 200), (1, 500)]
    assert attempts[0]["next_attempt_at"] is None
    assert attempts[1]["next_attempt_at"] is not None


def endpoint_id_of(receiver: Receiver, client, path: str = "/hook") -> str:
    for item in client.get(api_url("webhooks")).json()["results"]:
        if item["url"] == receiver.url(path):
            return item["id"]
    raise AssertionError(path)


def test_410_disables_the_endpoint_and_tells_the_others(client_all, sink, clock, receiver):
    gone = hook(client_all, receiver, "/gone")
    hook(client_all, receiver, "/other")
    receiver.answer_always(410, path="/gone")
    one_event(client_all, sink)
    one_event(client_all, sink, name="Second")
    sweep()
    sweep()  # the webhook.disabled event reaches the other endpoint

    assert len(receiver.to("/gone")) == 1  # stopped at the 410
    body = client_all.get(api_url(f"webhooks/{gone['id']}")).json()
    assert (body["enabled"], body["disabled_reason"]) == (False, "gone")
    [disabled] = receiver.of_type("webhook.disabled", path="/other")
    assert disabled["data"] == {
        "webhook_id": gone["id"],
        "url": receiver.url("/gone"),
        "disabled_reason": "gone",
    }
    listed = client_all.get(api_url("events?type=webhook.disabled")).json()["results"]
    assert [e["id"] for e in listed] == [disabled["id"]]
    assert len(receiver.of_type("campaign.activated", path="/other")) == 2

    one_event(client_all, sink, name="Third")  # nothing more to a disabled endpoint
    sweep()
    assert len(receiver.to("/gone")) == 1


def test_rotation_signs_with_both_secrets_until_the_old_one_expires(
    client_all, sink, clock, receiver
):
    created = hook(client_all, receiver)
    hook(client_all, receiver, "/bystander")
    old = created["secret"]
    # webhook.test: to this endpoint alone, now, signed like any delivery.
    response = client_all.post(api_url(f"webhooks/{created['id']}/test"))
    assert response.status_code == 200, response.content
    assert response.json()["status_code"] == 200
    assert response.json()["error"] is None
    [tested] = receiver.wait_for(1)
    assert tested.event["type"] == "webhook.test"
    assert tested.event["data"] == {"webhook_id": created["id"]}
    sweep()
    assert receiver.to("/bystander") == []
    receiver.hits.clear()

    rotate = api_url(f"webhooks/{created['id']}/rotate_secret")
    response = client_all.post(rotate, {}, format="json")
    assert response.status_code == 200, response.content
    new = response.json()["secret"]
    assert new != old
    receiver.expect(new)
    one_event(client_all, sink)
    sweep()
    [hit] = receiver.wait_for(1)
    assert len(hit.signatures) == 2
    assert all(s.startswith("v1,") for s in hit.signatures)
    assert hit.verifies(new)
    assert hit.verifies(old)
    for secret in (new, old):  # each signature verifies with one secret alone
        alone = [
            s
            for s in hit.signatures
            if verifies(secret, hit.body, {**hit.headers, "webhook-signature": s})
        ]
        assert len(alone) == 1

    clock.shift(timedelta(days=1, seconds=1))  # the old one has expired
    one_event(client_all, sink, name="Second")
    sweep()
    later = receiver.wait_for(2)[1]
    assert len(later.signatures) == 1
    assert later.verifies(new)
    assert not later.verifies(old)

    response = client_all.post(rotate, {"expire_previous_in_seconds": 0}, format="json")
    newest = response.json()["secret"]
    receiver.expect(newest)
    one_event(client_all, sink, name="Third")
    sweep()
    last = receiver.wait_for(3)[2]
    assert len(last.signatures) == 1
    assert last.verifies(newest)
    assert not last.verifies(new)


def test_five_days_of_failures_disable_the_endpoint_as_failing(
    client_all, sink, clock, receiver, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [3600.0] * 200  # one try an hour
    failing = hook(client_all, receiver, "/down")
    hook(client_all, receiver, "/other")
    receiver.answer_always(503, path="/down")
    one_event(client_all, sink)
    sweep()
    for _ in range(200):  # a try about every hour, until the endpoint is disabled
        clock.shift(timedelta(hours=1, minutes=7))  # past the retry's jitter
        sweep()
        if not endpoint(failing["id"]).enabled:
            break
    assert endpoint(failing["id"]).enabled is False
    assert endpoint(failing["id"]).disabled_reason == "failing"
    tries = receiver.to("/down")
    assert tries[-1].timestamp - tries[0].timestamp >= 5 * 86400
    assert tries[-2].timestamp - tries[0].timestamp < 5 * 86400
    sweep()
    [disabled] = receiver.of_type("webhook.disabled", path="/other")
    assert disabled["data"]["disabled_reason"] == "failing"
    assert disabled["data"]["webhook_id"] == failing["id"]


# Scoping, the log, redirects


def test_a_campaign_endpoint_gets_its_campaign_only_and_is_disabled_with_it(
    client_all, sink, clock, receiver
):
    campaign_id = one_event(client_all, sink)
    sweep()  # its activation is dispatched before the endpoints exist
    mine = hook(client_all, receiver, "/mine", campaign_id=campaign_id)
    hook(client_all, receiver, "/all")
    pause(client_all, campaign_id)
    one_event(client_all, sink, name="Other")
    sweep()

    assert [e["type"] for e in receiver.events("/mine")] == ["campaign.paused"]
    assert receiver.events("/mine")[0]["data"]["campaign_id"] == campaign_id
    assert sorted(e["type"] for e in receiver.events("/all")) == [
        "campaign.activated",
        "campaign.paused",
    ]

    response = client_all.delete(api_url(f"campaigns/{campaign_id}"))
    assert response.status_code == 204, response.content
    body = client_all.get(api_url(f"webhooks/{mine['id']}")).json()
    assert (body["enabled"], body["disabled_reason"]) == (False, "campaign_deleted")
    sweep()
    [disabled] = receiver.of_type("webhook.disabled", path="/all")
    assert disabled["data"]["disabled_reason"] == "campaign_deleted"
    assert len(receiver.to("/mine")) == 1


def test_the_log_keeps_1_kb_of_the_answer_and_a_redirect_is_a_failure(
    client_all, sink, clock, receiver
):
    big = hook(client_all, receiver, "/big")
    moved = hook(client_all, receiver, "/moved")
    receiver.answer_always(Reply(200, b"x" * 5000), path="/big")
    receiver.answer_always(Reply(302, b"", {"Location": receiver.url("/target")}), path="/moved")
    one_event(client_all, sink)
    sweep()

    [attempt] = deliveries_log(client_all, big["id"])
    assert (attempt["status_code"], attempt["error"], attempt["attempt"]) == (200, None, 1)
    assert attempt["response_body"] == "x" * 1024
    assert attempt["event_type"] == "campaign.activated"
    assert attempt["next_attempt_at"] is None
    assert attempt["duration_ms"] >= 0

    assert receiver.to("/target") == []  # never followed
    [attempt] = deliveries_log(client_all, moved["id"])
    assert (attempt["status_code"], attempt["attempt"]) == (302, 1)
    assert attempt["next_attempt_at"] is not None  # a failure: tried again
    clock.shift(timedelta(seconds=6))
    sweep()
    assert len(receiver.to("/moved")) == 2
    assert receiver.to("/target") == []


def test_an_answer_holding_nul_bytes_is_logged_and_the_delivery_done(
    client_all, sink, clock, receiver
):
    """PostgreSQL stores no NUL in text: the kept body replaces it, and the delivery is DONE,
    not retried forever."""
    created = hook(client_all, receiver, "/nul")
    receiver.answer_always(Reply(200, b"ok\x00\x00binary\xff"), path="/nul")
    one_event(client_all, sink)
    sweep()
    [attempt] = deliveries_log(client_all, created["id"])
    assert attempt["status_code"] == 200
    assert "\x00" not in attempt["response_body"]
    assert attempt["response_body"].startswith("ok")
    clock.shift(timedelta(minutes=5))
    sweep()
    assert len(receiver.to("/nul")) == 1  # delivered once, not again


def test_a_batch_cut_short_by_its_budget_leaves_the_rest_due_now(client_all, sink, clock, receiver):
    """Only an endpoint that did not answer at all makes the rest of its batch wait for that
    delivery's retry; a budget running out leaves them due at once."""
    from webhooks.delivering import deliver_endpoint

    created = hook(client_all, receiver, "/slow")
    receiver.answer_always(Reply(500, b"no"), path="/slow")
    for name in ("One", "Two", "Three"):
        one_event(client_all, sink, name)
    from webhooks.dispatch import fan_out

    fan_out()
    deliver_endpoint(created["id"], budget=0)  # one POST, then the budget is spent
    rows = WebhookDelivery.objects.filter(endpoint_id=created["id"]).order_by("attempts")
    untried = [row for row in rows if row.attempts == 0]
    assert len(untried) == 2
    assert all(row.next_attempt_at <= timezone.now() for row in untried)
    assert all(row.leased_until is None for row in untried)
