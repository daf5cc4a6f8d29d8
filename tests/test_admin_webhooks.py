"""The webhooks in the admin (API.md §10): an endpoint created through the API's action, its
secret shown once on the next page and never again; "Send test event" against a real local
server; the event log and the deliveries read-only; an endpoint stays in its workspace. And the
webhooks guide (docs/webhooks.md) names every event type with its example payload."""

import json
import re
import threading
from collections.abc import Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from standardwebhooks import Webhook

from audit.models import AuditEvent
from audit.services import Actor
from events.models import Event
from events.types import EVENT_TYPES
from tests.factories import make_campaign, make_lead
from tests.test_docs_offline import other_hosts
from tests.urls import api_url
from webhooks.dispatch import fan_out
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import do_create_webhook

ENDPOINTS = "/admin/webhooks/webhookendpoint/"
DELIVERIES = "/admin/webhooks/webhookdelivery/"
EVENTS = "/admin/events/event/"
ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
SECRET = re.compile(r'id="webhook-secret"[^>]*value="(whsec_[^"]+)"')


class Receiver:
    """A real HTTP server on loopback answering `status` and keeping what it got."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def form_token(client: Client) -> str:
    return client.get(f"{ENDPOINTS}add/").context["adminform"].form["form_token"].initial


def add_form(client: Client, workspace, url: str, **changes) -> dict:
    data = {
        "workspace": str(workspace.pk),
        "url": url,
        "event_types": ["message.sent", "lead.replied"],
        "campaign": "",
        "description": "CRM",
        "form_token": form_token(client),
        "_save": "Save",
    }
    data.update(changes)
    return data


def shown_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def create(client: Client, workspace, url: str, **changes):
    return client.post(f"{ENDPOINTS}add/", add_form(client, workspace, url, **changes))


# The secret, shown once.


def test_create_shows_the_secret_once_and_never_again(superuser_client, workspace, receiver):
    response = create(superuser_client, workspace, receiver.url)

    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint = WebhookEndpoint.objects.get()
    assert response["Location"].startswith(f"{ENDPOINTS}{endpoint.pk}/created/?k=")
    assert endpoint.event_types == ["message.sent", "lead.replied"]
    assert endpoint.enabled
    assert endpoint.workspace == workspace
    assert AuditEvent.objects.filter(action="webhook.created").count() == 1

    page = superuser_client.get(response["Location"])
    assert page.status_code == 200
    [secret] = SECRET.findall(page.content.decode())
    assert secret == endpoint.secret
    assert secret.startswith("whsec_")

    # A reload, the change page, the list and the delete page never show it again.
    again = superuser_client.get(response["Location"]).content.decode()
    assert "already shown" in again
    for url in (
        response["Location"],
        f"{ENDPOINTS}{endpoint.pk}/change/",
        ENDPOINTS,
        f"{ENDPOINTS}{endpoint.pk}/delete/",
    ):
        html = superuser_client.get(url).content.decode()
        assert secret not in html, url
        assert secret.removeprefix("whsec_")[:20] not in html, url
    # The session does not hold it in the clear either.
    assert not any(secret in str(v) for v in superuser_client.session.values())


def test_the_same_add_form_submitted_twice_creates_one_endpoint(
    superuser_client, workspace, receiver
):
    data = add_form(superuser_client, workspace, receiver.url)
    first = superuser_client.post(f"{ENDPOINTS}add/", data)
    second = superuser_client.post(f"{ENDPOINTS}add/", data)

    assert first.status_code == second.status_code == 302
    assert WebhookEndpoint.objects.count() == 1
    endpoint = WebhookEndpoint.objects.get()
    assert second["Location"] == f"{ENDPOINTS}{endpoint.pk}/created/"
    assert "already shown" in superuser_client.get(second["Location"]).content.decode()


def test_every_type_is_offered_and_star_stands_for_all(superuser_client, workspace, receiver):
    form = superuser_client.get(f"{ENDPOINTS}add/").context["adminform"].form
    offered = [value for value, _ in form.fields["event_types"].choices]
    assert offered == ["*", *[t for t in EVENT_TYPES if t != "webhook.test"]]

    create(superuser_client, workspace, receiver.url, event_types=["*", "message.sent"])

    assert WebhookEndpoint.objects.get().event_types == ["*"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.com/x", "must use http or https"),
        ("https://user:pw@hooks.example.com/x", "username or password"),
    ],
)
def test_the_url_is_judged_like_the_api(superuser_client, workspace, url, problem):
    response = create(superuser_client, workspace, url)

    assert response.status_code == 200
    assert problem in unescape(response.content.decode())
    assert WebhookEndpoint.objects.count() == 0


def test_private_hosts_are_refused_where_they_are_not_allowed(
    superuser_client, workspace, settings
):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False

    response = create(superuser_client, workspace, "https://127.0.0.1/hook")

    assert response.status_code == 200
    assert "not a public address" in unescape(response.content.decode())
    assert create(superuser_client, workspace, "http://hooks.example.com/x").status_code == 200
    assert WebhookEndpoint.objects.count() == 0


def test_the_limit_is_a_message_not_an_error(superuser_client, workspace, receiver, settings):
    settings.WEBHOOKS_PER_WORKSPACE = 0

    response = create(superuser_client, workspace, receiver.url)

    assert response.status_code == 302
    followed = superuser_client.get(response["Location"])
    assert any("at most 0" in text for _, text in shown_messages(followed))
    assert WebhookEndpoint.objects.count() == 0


# Changing and deleting go through the actions.


def make_endpoint(workspace, url: str, **data) -> WebhookEndpoint:
    endpoint, _ = do_create_webhook(
        workspace, {"url": url, "event_types": ["*"], **data}, actor=Actor.command("test")
    )
    return endpoint


def change_form(endpoint: WebhookEndpoint, **changes) -> dict:
    data = {
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "campaign": str(endpoint.campaign_id or ""),
        "description": endpoint.description,
        "enabled": "on" if endpoint.enabled else "",
        "_save": "Save",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != "" or k in ("campaign", "description")}


def test_change_goes_through_the_action_and_keeps_the_secret(
    superuser_client, workspace, other_workspace, receiver
):
    endpoint = make_endpoint(workspace, receiver.url)
    secret = endpoint.secret

    response = superuser_client.post(
        f"{ENDPOINTS}{endpoint.pk}/change/",
        change_form(
            endpoint,
            event_types=["lead.replied"],
            description="Renamed",
            enabled="",
            workspace=str(other_workspace.pk),
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["lead.replied"]
    assert endpoint.description == "Renamed"
    assert endpoint.enabled is False
    assert endpoint.secret == secret
    assert endpoint.workspace == workspace  # it stays in its workspace
    audit = AuditEvent.objects.filter(action="webhook.updated").get()
    assert set(audit.extra["fields"]) == {"description", "enabled", "event_types"}


def test_a_campaign_of_another_workspace_is_refused(
    superuser_client, workspace, other_workspace, receiver
):
    theirs = make_campaign(other_workspace)
    ours = make_campaign(workspace)

    refused = create(
        superuser_client, workspace, receiver.url, campaign=str(theirs.pk), event_types=["*"]
    )
    assert refused.status_code == 200
    assert "Not a campaign of the endpoint's workspace." in unescape(refused.content.decode())
    wrong_types = create(
        superuser_client,
        workspace,
        receiver.url,
        campaign=str(ours.pk),
        event_types=["sender_account.error"],
    )
    assert wrong_types.status_code == 200
    assert WebhookEndpoint.objects.count() == 0

    created = create(superuser_client, workspace, receiver.url, campaign=str(ours.pk))
    assert created.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.campaign_id == ours.pk
    form = superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").context["adminform"].form
    offered = {str(pk) for pk in form.fields["campaign"].queryset.values_list("pk", flat=True)}
    assert offered == {str(ours.pk)}
    assert (
        'name="workspace"'
        not in superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    )


def test_delete_goes_through_the_action(superuser_client, workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    superuser_client.post(f"{ENDPOINTS}{endpoint.pk}/test/")  # an attempt in its log
    assert WebhookAttempt.objects.filter(endpoint=endpoint).count() == 1

    confirm = superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/delete/")
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    response = superuser_client.post(f"{ENDPOINTS}{endpoint.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookAttempt.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").count() == 1


# The test event, against a real server.


def test_send_test_event_reports_the_status_and_logs_the_attempt(
    superuser_client, workspace, receiver
):
    created = create(superuser_client, workspace, receiver.url)
    secret = SECRET.findall(superuser_client.get(created["Location"]).content.decode())[0]
    endpoint = WebhookEndpoint.objects.get()
    page = superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    assert "Send test event" in page

    response = superuser_client.post(f"{ENDPOINTS}{endpoint.pk}/test/", follow=True)

    assert response.redirect_chain == [(f"{ENDPOINTS}{endpoint.pk}/change/", 302)]
    [(level, text)] = shown_messages(response)
    assert level == "success"
    assert re.fullmatch(r"Test event delivered: status code 204 in \d+ ms\.", text)
    [(headers, body)] = receiver.received
    event = Webhook(secret).verify(body, headers)  # the secret shown once signs deliveries
    assert event["type"] == "webhook.test"
    assert event["data"] == {"webhook_id": str(endpoint.pk)}
    assert headers["webhook-id"] == event["id"]
    attempt = WebhookAttempt.objects.get(endpoint=endpoint)
    assert (attempt.status_code, attempt.error, attempt.event_type) == (204, None, "webhook.test")
    html = response.content.decode()
    assert "webhook-attempts" in html  # the recent attempts on the page
    assert ">204<" in html
    assert secret not in html


def test_send_test_event_reports_a_refusal_and_no_answer(superuser_client, workspace):
    with Receiver(status=500) as failing:
        endpoint = make_endpoint(workspace, failing.url)
        response = superuser_client.post(f"{ENDPOINTS}{endpoint.pk}/test/", follow=True)
    [(level, text)] = shown_messages(response)
    assert level == "error"
    assert text.startswith("Test event refused: status code 500 in ")
    assert "ok" in response.content.decode()  # its response body, in the attempts table

    dead = Receiver()
    dead.server.server_close()  # the port is free: nothing answers
    closed = make_endpoint(workspace, dead.url.replace("/hook", "/closed"))
    response = superuser_client.post(f"{ENDPOINTS}{closed.pk}/test/", follow=True)
    [(level, text)] = shown_messages(response)
    assert level == "error"
    assert text.startswith("Test event not delivered: ")


def test_send_test_event_is_post_only(superuser_client, workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    assert superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/test/").status_code == 405
    assert receiver.received == []


# The event log and the deliveries, read-only.


def test_events_from_real_code_are_listed_and_shown(superuser_client, workspace):
    campaign = make_campaign(workspace)
    make_lead(campaign)
    activated = superuser_client.post(f"/admin/campaigns/campaign/{campaign.pk}/activate/")
    assert activated.status_code == 302
    event = Event.objects.get(type="campaign.activated")

    listing = superuser_client.get(EVENTS)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "campaign.activated" in html
    assert workspace.slug in html
    assert superuser_client.get(f"{EVENTS}?type=campaign.activated").status_code == 200
    assert superuser_client.get(f"{EVENTS}?type=message.sent").context["cl"].result_count == 0
    by_campaign = superuser_client.get(f"{EVENTS}?q={campaign.pk}")
    assert [e.pk for e in by_campaign.context["cl"].result_list] == [event.pk]
    assert superuser_client.get(f"{EVENTS}?q=not-a-uuid").context["cl"].result_count == 0
    assert superuser_client.get(f"{EVENTS}?workspace_id={workspace.pk}").status_code == 200

    detail = superuser_client.get(f"{EVENTS}{event.pk}/change/")
    assert detail.status_code == 200
    page = unescape(detail.content.decode())
    assert '"reason": "admin"' in page  # the data, indented
    assert 'name="_save"' not in page  # read-only
    assert superuser_client.get(f"{EVENTS}add/").status_code == 403
    assert superuser_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_deliveries_are_listed_read_only(superuser_client, workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    campaign = make_campaign(workspace)
    make_lead(campaign)
    superuser_client.post(f"/admin/campaigns/campaign/{campaign.pk}/activate/")
    fan_out()  # the dispatcher's step: one delivery per (event, endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    listing = superuser_client.get(DELIVERIES)
    assert listing.status_code == 200
    assert "campaign.activated" in listing.content.decode()
    for query in ("?status=PENDING", "?event__type=campaign.activated", f"?q={receiver.url}"):
        assert superuser_client.get(DELIVERIES + query).context["cl"].result_count == 1, query
    detail = superuser_client.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert detail.status_code == 200
    assert endpoint.secret not in detail.content.decode()
    assert superuser_client.get(f"{DELIVERIES}add/").status_code == 403


# Who sees the pages.


def test_staff_without_permissions_see_no_webhooks_or_events(workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    staff = get_user_model().objects.create_user("staff", "s@example.com", None, is_staff=True)
    client = Client()
    client.force_login(staff)

    for url in (
        ENDPOINTS,
        f"{ENDPOINTS}{endpoint.pk}/change/",
        f"{ENDPOINTS}{endpoint.pk}/created/",
        EVENTS,
        DELIVERIES,
    ):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        assert endpoint.secret not in response.content.decode()
    assert client.post(f"{ENDPOINTS}{endpoint.pk}/test/").status_code == 403
    assert receiver.received == []


# The guide.


def test_the_guide_names_every_event_type_with_its_example_payload():
    for name, (_, data) in EVENT_TYPES.items():
        heading = f"\n### `{name}`\n"
        assert GUIDE.count(heading) == 1, name
        after = GUIDE.split(heading, 1)[1]
        block = re.search(r"```json\n(.*?)\n```", after, re.S).group(1)
        assert json.loads(block) == data, name
        assert re.search(rf"^\| `{re.escape(name)}` \|", GUIDE, re.M), name
    documented = set(re.findall(r"^### `([a-z_]+\.[a-z_]+)`$", GUIDE, re.M))
    assert documented == set(EVENT_TYPES)


def test_the_guide_states_the_retry_schedule_of_the_settings(settings):
    assert settings.WEBHOOK_RETRY_SCHEDULE == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert "5 s, 5 min,\n30 min, 2 h, 5 h, 10 h and 10 h" in GUIDE
    assert f"default {settings.EVENTS_RETENTION_DAYS}" in GUIDE


def test_the_guide_is_served_and_loads_nothing_from_another_host(client):
    response = client.get(api_url("guide/webhooks"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert other_hosts(response.content.decode()) == set()
    assert client.get(api_url("guide/webhooks") + "?format=md").content.decode() == GUIDE
    guide = client.get(api_url("guide")).content.decode()
    assert f'href="{api_url("guide/webhooks")}"' in guide
