"""Webhook endpoints over the API (API.md §10, §3, §4): create with a secret shown once,
validation, the per-workspace limit, update and re-enable, delete, isolation between
workspaces, the exact scope of every route, rotate_secret, replay, test and deliveries."""

import re
import socket
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.scopes import KNOWN_SCOPES
from events.services import record_event
from leads.services import CAMPAIGN_NOT_FOUND
from tests.urls import api_url
from tests.webhook_support import receiver_fixture  # noqa: F401 (the `receiver` fixture)
from webhooks.delivering import disable
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
FIELDS = {
    "id",
    "url",
    "event_types",
    "campaign_id",
    "description",
    "enabled",
    "disabled_reason",
    "created_at",
}
HOOK = "http://127.0.0.1:9/hook"  # never connected to, except where a test says so
WEBHOOKS = api_url("webhooks")


def webhook_url(pk: str, action: str | None = None) -> str:
    return api_url(f"webhooks/{pk}/{action}" if action else f"webhooks/{pk}")


def create(client: APIClient, **fields: object) -> dict:
    body = {"url": HOOK, "event_types": ["*"], **fields}
    response = client.post(WEBHOOKS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def client(make_client) -> APIClient:
    return make_client(["webhooks:all", "events:read"])


# Create, and the secret shown once


def test_create_answers_201_with_a_secret_shown_this_once(client, campaign):
    response = client.post(
        WEBHOOKS,
        {
            "url": "http://127.0.0.1:8123/hooks/coldsend?x=1",
            "event_types": ["message.sent", "lead.replied"],
            "campaign_id": str(campaign.pk),
            "description": "CRM sync",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == FIELDS | {"secret"}
    assert SECRET.fullmatch(created["secret"])
    assert created["url"] == "http://127.0.0.1:8123/hooks/coldsend?x=1"
    assert created["event_types"] == ["message.sent", "lead.replied"]
    assert created["campaign_id"] == str(campaign.pk)
    assert created["description"] == "CRM sync"
    assert created["enabled"] is True
    assert created["disabled_reason"] is None
    secret = created["secret"]

    answers = [
        client.get(webhook_url(created["id"])),
        client.get(WEBHOOKS),
        client.patch(webhook_url(created["id"]), {"description": "CRM"}, format="json"),
        client.post(webhook_url(created["id"], "replay"), {"since": "2020-01-01T00:00:00Z"}),
        client.get(webhook_url(created["id"], "deliveries")),
        client.get(api_url("events")),
    ]
    for answer in answers:
        assert answer.status_code < 300, answer.content
        assert secret.encode() not in answer.content
        assert b"whsec_" not in answer.content
    assert set(answers[0].json()) == FIELDS
    assert [set(item) for item in answers[1].json()["results"]] == [FIELDS]
    assert set(answers[2].json()) == FIELDS


def test_defaults_and_the_list_newest_first(client):
    first = create(client)
    second = create(client, event_types=["campaign.paused"])
    assert first["campaign_id"] is None
    assert first["description"] == ""
    listed = client.get(WEBHOOKS).json()
    assert [item["id"] for item in listed["results"]] == [second["id"], first["id"]]
    assert listed["next"] is None


# Validation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/hook"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"url": "http://127.0.0.1:99999/hook"}, "url"),
        ({"url": "https://127.0.0.1/" + "a" * 2000}, "url"),
        ({"url": 5}, "url"),
        ({"event_types": ["message.sent", "message.sentt"]}, "event_types"),
        ({"event_types": ["webhook.test"]}, "event_types"),
        ({"event_types": ["*", "message.sent"]}, "event_types"),
        ({"event_types": ["message.sent", "message.sent"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "*"}, "event_types"),
        ({"event_types": [" message.sent"]}, "event_types"),
        ({"campaign_id": "not-a-uuid"}, "campaign_id"),
        ({"campaign_id": str(uuid.uuid4())}, "campaign_id"),
        ({"description": "x" * 501}, "description"),
        ({"description": None}, "description"),
        ({"colour": "blue"}, "colour"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"enabled": False}, "enabled"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"disabled_reason": "gone"}, "disabled_reason"),
    ],
)
def test_invalid_create_bodies_are_400_naming_the_field(client, body, field):
    response = client.post(WEBHOOKS, {"url": HOOK, "event_types": ["*"], **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("missing", ["url", "event_types"])
def test_url_and_event_types_are_required(client, missing):
    body = {"url": HOOK, "event_types": ["*"]}
    del body[missing]
    response = client.post(WEBHOOKS, body, format="json")
    assert response.status_code == 400
    assert response.json() == {missing: ["This field is required."]}


def test_unknown_event_types_are_named(client):
    response = client.post(
        WEBHOOKS,
        {"url": HOOK, "event_types": ["message.sent", "mesage.opened", "lead.gone"]},
        format="json",
    )
    assert response.status_code == 400
    [message] = response.json()["event_types"]
    assert "mesage.opened" in message
    assert "lead.gone" in message
    assert "message.sent," not in message


def test_a_campaign_of_another_workspace_is_refused_like_a_missing_one(client, foreign_campaign):
    response = client.post(
        WEBHOOKS,
        {"url": HOOK, "event_types": ["*"], "campaign_id": str(foreign_campaign.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"campaign_id": [CAMPAIGN_NOT_FOUND]}
    assert WebhookEndpoint.objects.count() == 0


def test_an_endpoint_of_one_campaign_takes_only_campaign_types(client, campaign):
    response = client.post(
        WEBHOOKS,
        {"url": HOOK, "event_types": ["sender_account.error"], "campaign_id": str(campaign.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "event_types" in response.json()
    assert WebhookEndpoint.objects.count() == 0


def test_with_private_hosts_allowed_http_and_loopback_are_accepted(client):
    assert create(client, url="http://localhost:8080/hook")["url"] == "http://localhost:8080/hook"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/coldsend",  # plain http: refused before any lookup
        "https://127.0.0.1/hook",
        "https://127.0.0.1:8443/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
    ],
)
def test_without_private_hosts_http_and_non_public_hosts_are_refused(client, settings, url):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    response = client.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["url"]
    assert WebhookEndpoint.objects.count() == 0


def test_without_private_hosts_http_is_refused_with_a_reason(client, settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    response = client.post(WEBHOOKS, {"url": HOOK, "event_types": ["*"]}, format="json")
    assert response.json() == {"url": ["The URL must use https."]}


def test_a_url_changed_by_patch_is_checked_too(client, settings):
    endpoint = create(client)
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    response = client.patch(
        webhook_url(endpoint["id"]), {"url": "https://127.0.0.1/other"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["url"]
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).url == HOOK


# The limit per workspace


def test_one_endpoint_past_the_limit_is_409_limit_reached(
    client, make_client, other_workspace, settings
):
    assert settings.WEBHOOKS_PER_WORKSPACE == 20  # the contract's number
    settings.WEBHOOKS_PER_WORKSPACE = 3
    for _ in range(3):
        create(client)
    response = client.post(WEBHOOKS, {"url": HOOK, "event_types": ["*"]}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "limit_reached"
    assert body["limit"] == 3
    assert isinstance(body["detail"], str)
    assert WebhookEndpoint.objects.count() == 3

    other = make_client(["webhooks:all"], ws=other_workspace)
    create(other)  # each workspace has its own allowance

    client.delete(webhook_url(client.get(WEBHOOKS).json()["results"][0]["id"]))
    create(client)  # room again after a delete


# Update, re-enable, delete


def test_patch_changes_only_the_fields_sent(client, campaign):
    endpoint = create(client, description="before")
    response = client.patch(
        webhook_url(endpoint["id"]),
        {
            "url": "http://127.0.0.1:9/other",
            "event_types": ["campaign.activated", "campaign.paused"],
            "campaign_id": str(campaign.pk),
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["url"] == "http://127.0.0.1:9/other"
    assert changed["event_types"] == ["campaign.activated", "campaign.paused"]
    assert changed["campaign_id"] == str(campaign.pk)
    assert changed["description"] == "before"
    assert changed["created_at"] == endpoint["created_at"]
    assert client.get(webhook_url(endpoint["id"])).json() == changed

    widened = client.patch(webhook_url(endpoint["id"]), {"campaign_id": None}, format="json")
    assert widened.json()["campaign_id"] is None
    assert client.patch(webhook_url(endpoint["id"]), {}, format="json").json() == widened.json()


def test_patch_disables_and_re_enables(client):
    endpoint = create(client)
    off = client.patch(webhook_url(endpoint["id"]), {"enabled": False}, format="json").json()
    assert (off["enabled"], off["disabled_reason"]) == (False, None)

    on = client.patch(webhook_url(endpoint["id"]), {"enabled": True}, format="json").json()
    assert (on["enabled"], on["disabled_reason"]) == (True, None)

    disable(WebhookEndpoint.objects.get(pk=endpoint["id"]), WebhookEndpoint.DisabledReason.GONE)
    gone = client.get(webhook_url(endpoint["id"])).json()
    assert (gone["enabled"], gone["disabled_reason"]) == (False, "gone")
    again = client.patch(webhook_url(endpoint["id"]), {"enabled": True}, format="json").json()
    assert (again["enabled"], again["disabled_reason"]) == (True, None)


@pytest.mark.parametrize(
    "body",
    [
        {"secret": "whsec_x"},
        {"id": str(uuid.uuid4())},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"disabled_reason": None},
        {"colour": "blue"},
        {"enabled": "true"},
        {"url": None},
        {"event_types": ["nope"]},
    ],
)
def test_patch_refuses_read_only_unknown_and_invalid_fields(client, body):
    endpoint = create(client)
    response = client.patch(webhook_url(endpoint["id"]), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == list(body)
    assert client.get(webhook_url(endpoint["id"])).json() == {
        k: v for k, v in endpoint.items() if k != "secret"
    }


def test_put_is_not_offered(client):
    endpoint = create(client)
    response = client.put(webhook_url(endpoint["id"]), {"url": HOOK}, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


def test_delete_answers_204_then_404(client):
    endpoint = create(client)
    response = client.delete(webhook_url(endpoint["id"]))
    assert response.status_code == 204
    assert response.content == b""
    for method in ("get", "patch", "delete"):
        gone = getattr(client, method)(webhook_url(endpoint["id"]), {}, format="json")
        assert gone.status_code == 404
        assert gone.json() == {"detail": "Not found."}
    assert client.get(WEBHOOKS).json()["results"] == []


def test_a_malformed_id_is_404(client):
    response = client.get(webhook_url("not-an-id"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# Another workspace's endpoints

DETAIL_ROUTES = [
    ("get", None, None),
    ("patch", None, {"description": "mine now"}),
    ("delete", None, None),
    ("post", "test", None),
    ("post", "rotate_secret", {}),
    ("post", "replay", {"since": "2020-01-01T00:00:00Z"}),
    ("get", "deliveries", None),
]


@pytest.mark.parametrize(("method", "action", "body"), DETAIL_ROUTES)
def test_another_workspaces_endpoint_is_404_on_every_route(
    client, make_client, other_workspace, method, action, body
):
    theirs = create(make_client(["webhooks:all"], ws=other_workspace))
    before = WebhookEndpoint.objects.values().get(pk=theirs["id"])
    response = getattr(client, method)(webhook_url(theirs["id"], action), body, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert WebhookEndpoint.objects.values().get(pk=theirs["id"]) == before
    assert not WebhookAttempt.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert client.get(WEBHOOKS).json()["results"] == []


# Scopes

ROUTES = [
    ("get", "webhooks", "webhooks:read"),
    ("post", "webhooks", "webhooks:create"),
    ("get", "webhooks/{id}", "webhooks:read"),
    ("patch", "webhooks/{id}", "webhooks:update"),
    ("delete", "webhooks/{id}", "webhooks:delete"),
    ("post", "webhooks/{id}/test", "webhooks:update"),
    ("post", "webhooks/{id}/rotate_secret", "webhooks:update"),
    ("post", "webhooks/{id}/replay", "webhooks:update"),
    ("get", "webhooks/{id}/deliveries", "webhooks:read"),
]
BODIES = {
    ("post", "webhooks"): {"url": HOOK, "event_types": ["*"]},
    ("patch", "webhooks/{id}"): {"description": "changed"},
    ("post", "webhooks/{id}/rotate_secret"): {},
    ("post", "webhooks/{id}/replay"): {"since": "2020-01-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    ("method", "path", "scope"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_each_route_needs_exactly_its_scope(client, make_client, method, path, scope):
    endpoint = create(client)
    url = api_url(path.replace("{id}", endpoint["id"]))
    body = BODIES.get((method, path))
    granted = sorted(s for s in KNOWN_SCOPES if s not in {"*", scope, "webhooks:all"})

    refused = getattr(make_client(granted), method)(url, body, format="json")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": f"Missing required scopes: {scope}",
        "required": [scope],
        "granted": granted,
    }
    assert WebhookEndpoint.objects.count() == 1

    for scopes in ([scope], ["webhooks:all"], ["*"]):
        if method == "delete" and scopes != [scope]:
            continue  # deleted by the first
        allowed = getattr(make_client(scopes), method)(url, body, format="json")
        assert allowed.status_code < 300, (scopes, allowed.status_code, allowed.content)


def test_403_comes_before_404_and_400(make_client):
    response = make_client(["events:read"]).post(
        webhook_url(str(uuid.uuid4()), "replay"), {"since": "yesterday"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["required"] == ["webhooks:update"]


# Rotate the secret


def test_rotate_secret_gives_a_new_secret_once(client):
    endpoint = create(client)
    response = client.post(webhook_url(endpoint["id"], "rotate_secret"), {}, format="json")
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert set(rotated) == FIELDS | {"secret"}
    assert SECRET.fullmatch(rotated["secret"])
    assert rotated["secret"] != endpoint["secret"]
    assert {k: v for k, v in rotated.items() if k != "secret"} == {
        k: v for k, v in endpoint.items() if k != "secret"
    }
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.secret == rotated["secret"]
    assert stored.previous_secret == endpoint["secret"]
    overlap = stored.previous_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(days=1)  # the default
    shown = client.get(webhook_url(endpoint["id"]))
    assert rotated["secret"].encode() not in shown.content


def test_rotate_secret_with_no_body_takes_the_default(client):
    endpoint = create(client)
    response = client.post(webhook_url(endpoint["id"], "rotate_secret"))
    assert response.status_code == 200, response.content
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).previous_secret == endpoint["secret"]


def test_rotate_secret_at_once_drops_the_previous_one(client):
    endpoint = create(client)
    response = client.post(
        webhook_url(endpoint["id"], "rotate_secret"),
        {"expire_previous_in_seconds": 0},
        format="json",
    )
    assert response.status_code == 200
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert (stored.previous_secret, stored.previous_expires_at) == ("", None)


@pytest.mark.parametrize(
    "body",
    [
        {"expire_previous_in_seconds": -1},
        {"expire_previous_in_seconds": 86401},
        {"expire_previous_in_seconds": "60"},
        {"expire_previous_in_seconds": 1.5},
        {"expire_previous_in_seconds": None},
        {"expire_previous": 60},
    ],
)
def test_rotate_secret_refuses_a_bad_overlap(client, body):
    endpoint = create(client)
    response = client.post(webhook_url(endpoint["id"], "rotate_secret"), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == list(body)
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).secret == endpoint["secret"]


# Replay


def _activate_and_pause(client: APIClient) -> str:
    """A campaign activated then paused through the API: a campaign.activated and a
    campaign.paused event."""
    sender = client.post(
        api_url("sender_accounts"), {"type": "NATIVE", "email": "s@acme.test"}, format="json"
    )
    assert sender.status_code == 201, sender.content
    campaign = client.post(
        api_url("campaigns"),
        {
            "name": "Replayed",
            "sender_account_ids": [sender.json()["id"]],
            "steps": [{"subject": "Hi", "body": "Hello"}],
        },
        format="json",
    )
    assert campaign.status_code == 201, campaign.content
    pk = campaign.json()["id"]
    assert client.post(api_url(f"campaigns/{pk}/activate")).status_code == 200
    assert client.post(api_url(f"campaigns/{pk}/pause")).status_code == 200
    return pk


def test_replay_queues_the_subscribed_events_in_range(make_client, workspace):
    client = make_client(["*"])
    everything = create(client)
    paused_only = create(client, event_types=["campaign.paused"])
    started = timezone.now()
    campaign_id = _activate_and_pause(client)
    events = client.get(api_url("events"), {"campaign_id": campaign_id}).json()["results"]
    assert [e["type"] for e in events] == ["campaign.paused", "campaign.activated"]
    record_event(workspace.pk, "sender_account.error", {"sender_account_id": str(uuid.uuid4())})

    since = (started - timedelta(seconds=1)).isoformat()
    replayed = client.post(webhook_url(everything["id"], "replay"), {"since": since}, format="json")
    assert replayed.status_code == 202, replayed.content
    assert replayed.json() == {"queued": 3}
    queued = WebhookDelivery.objects.filter(endpoint_id=everything["id"])
    assert queued.count() == 3

    one = client.post(webhook_url(paused_only["id"], "replay"), {"since": since}, format="json")
    assert one.json() == {"queued": 1}

    until = (started - timedelta(milliseconds=1)).isoformat()
    none = client.post(
        webhook_url(everything["id"], "replay"), {"since": since, "until": until}, format="json"
    )
    assert (none.status_code, none.json()) == (202, {"queued": 0})

    # Replaying again queues the same events again (receivers dedupe on webhook-id).
    again = client.post(webhook_url(everything["id"], "replay"), {"since": since}, format="json")
    assert again.json() == {"queued": 3}
    assert queued.count() == 3


def test_replay_of_a_campaign_endpoint_takes_its_campaign_only(make_client, workspace):
    client = make_client(["*"])
    campaign_id = _activate_and_pause(client)
    _activate_and_pause(client)  # another campaign, two more events
    endpoint = create(client, campaign_id=campaign_id)
    response = client.post(
        webhook_url(endpoint["id"], "replay"), {"since": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert response.json() == {"queued": 2}


def test_another_workspaces_events_are_never_replayed(client, other_workspace):
    endpoint = create(client)
    record_event(other_workspace.pk, "sender_account.error", {"sender_account_id": "x"})
    response = client.post(
        webhook_url(endpoint["id"], "replay"), {"since": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert response.json() == {"queued": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": None}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T23:59:59Z"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "until": "soon"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "to"),
    ],
)
def test_replay_refuses_a_bad_range(client, body, field):
    endpoint = create(client)
    response = client.post(webhook_url(endpoint["id"], "replay"), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


# Test and deliveries


def test_test_against_a_closed_port_answers_200_with_the_error(client):
    endpoint = create(client, url=f"http://127.0.0.1:{free_port()}/hook")
    response = client.post(webhook_url(endpoint["id"], "test"))
    assert response.status_code == 200, response.content
    result = response.json()
    assert set(result) == {"status_code", "error", "duration_ms"}
    assert result["status_code"] is None
    assert isinstance(result["error"], str)
    assert result["error"]
    assert isinstance(result["duration_ms"], int)
    assert result["duration_ms"] >= 0

    deliveries = client.get(webhook_url(endpoint["id"], "deliveries")).json()
    [attempt] = deliveries["results"]
    assert set(attempt) == {
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "error",
        "response_body",
        "duration_ms",
        "attempted_at",
        "next_attempt_at",
    }
    assert attempt["event_type"] == "webhook.test"
    assert attempt["attempt"] == 1
    assert attempt["status_code"] is None
    assert attempt["error"] == result["error"]
    assert attempt["response_body"] is None
    assert attempt["duration_ms"] == result["duration_ms"]
    assert attempt["next_attempt_at"] is None  # a test is never retried

    event = client.get(api_url(f"events/{attempt['event_id']}")).json()
    assert event["type"] == "webhook.test"
    assert event["data"] == {"webhook_id": endpoint["id"]}


def test_test_posts_a_signed_event_to_the_endpoint(client, receiver):
    endpoint = create(client, url=receiver.url("/hook"), event_types=["campaign.paused"])
    receiver.expect(endpoint["secret"], "/hook")
    receiver.answer_always(204, "/hook")
    response = client.post(webhook_url(endpoint["id"], "test"))
    assert response.status_code == 200, response.content
    assert response.json()["status_code"] == 204
    assert response.json()["error"] is None
    [hit] = receiver.to("/hook")
    assert hit.verified
    assert hit.event["type"] == "webhook.test"
    assert hit.event["workspace"] == "acme"
    assert hit.headers["webhook-id"] == hit.event["id"]
    assert hit.headers["content-type"] == "application/json"
    [attempt] = client.get(webhook_url(endpoint["id"], "deliveries")).json()["results"]
    assert (attempt["status_code"], attempt["error"]) == (204, None)


def test_deliveries_are_newest_first_and_paginated(client):
    endpoint = create(client, url=f"http://127.0.0.1:{free_port()}/hook")
    for _ in range(3):
        assert client.post(webhook_url(endpoint["id"], "test")).status_code == 200
    first = client.get(webhook_url(endpoint["id"], "deliveries"), {"limit": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"] is not None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    ids = [a["event_id"] for a in first["results"] + second["results"]]
    assert len(set(ids)) == 3
    times = [a["attempted_at"] for a in first["results"] + second["results"]]
    assert times == sorted(times, reverse=True)


def test_deliveries_of_another_endpoint_are_not_listed(client):
    mine = create(client, url=f"http://127.0.0.1:{free_port()}/hook")
    other = create(client, url=f"http://127.0.0.1:{free_port()}/hook")
    client.post(webhook_url(other["id"], "test"))
    assert client.get(webhook_url(mine["id"], "deliveries")).json()["results"] == []


def test_deleting_its_campaign_disables_an_endpoint(make_client, campaign):
    client = make_client(["*"])
    endpoint = create(client, campaign_id=str(campaign.pk), event_types=["campaign.paused"])
    assert client.delete(api_url(f"campaigns/{campaign.pk}")).status_code == 204
    shown = client.get(webhook_url(endpoint["id"])).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "campaign_deleted")


# The OpenAPI document


def test_the_schema_documents_the_secret_the_limit_and_the_signature_headers():
    document = SchemaGenerator().get_schema(request=None, public=True)
    schemas = document["components"]["schemas"]
    created = document["paths"]["/api/public/v1/webhooks/"]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookWithSecret"
    }
    conflict = created["409"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert conflict == {"$ref": "#/components/schemas/WebhookLimitReached"}
    code = schemas["WebhookLimitReached"]["properties"]["code"]["$ref"].rsplit("/", 1)[1]
    assert schemas[code]["enum"] == ["limit_reached"]
    assert "secret" in schemas["WebhookWithSecret"]["properties"]
    assert "secret" not in schemas["Webhook"]["properties"]
    for request in ("WebhookCreateRequest", "PatchedWebhookUpdateRequest"):
        assert "secret" not in schemas[request]["properties"]
        assert schemas[request]["additionalProperties"] is False
    [tag] = [t for t in document["tags"] if t["name"] == "webhooks"]
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature", "Standard Webhooks"):
        assert header in tag["description"]
    replay = document["paths"]["/api/public/v1/webhooks/{id}/replay/"]["post"]
    assert set(replay["responses"]) >= {"202", "400", "404"}
    assert "delete" in document["paths"]["/api/public/v1/webhooks/{id}/"]
    assert "put" not in document["paths"]["/api/public/v1/webhooks/{id}/"]


def test_a_secret_answer_is_never_kept_by_the_idempotency_store(client):
    """API.md §3: a retry with the same Idempotency-Key is not run again, and its answer does not
    carry the secret (kept as a fingerprint and status only)."""
    body = {"url": HOOK, "event_types": ["*"]}
    first = client.post(WEBHOOKS, body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
    assert first.status_code == 201
    secret = first.json()["secret"]
    retry = client.post(WEBHOOKS, body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
    assert retry.status_code == 409
    assert retry.json()["code"] == "idempotency_response_not_stored"
    assert retry.json()["id"] == first.json()["id"]
    assert secret not in retry.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    rotate_url = webhook_url(first.json()["id"], "rotate_secret")
    rotated = client.post(rotate_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="rotate-1")
    assert rotated.status_code == 200
    again = client.post(rotate_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="rotate-1")
    assert again.status_code == 409
    assert rotated.json()["secret"] not in again.content.decode()


def test_a_malformed_url_is_a_400_not_an_error(client):
    response = client.post(WEBHOOKS, {"url": "http://[::1", "event_types": ["*"]}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()
