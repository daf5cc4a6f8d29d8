"""A cursor the API did not hand out is a 400 on every list, never the first page or a 404
(issue 12, finding 7). The lists come from the OpenAPI document, so a new list is covered."""

from base64 import b64encode
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from campaigns.models import Campaign
from delivery.models import Message
from events.services import record_event
from leads.models import Lead
from sender_accounts.models import SenderAccount
from webhooks.models import WebhookAttempt, WebhookEndpoint

ID = "0193c2a4-7b1e-7c3d-8a9b-0c1d2e3f4a5b"


def list_operations() -> list[str]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        path
        for path, item in document["paths"].items()
        if any(p["name"] == "cursor" for p in item.get("get", {}).get("parameters", []))
    ]


LISTS = list_operations()


def b64(text: str) -> str:
    return b64encode(text.encode()).decode()


GARBAGE = [
    "' OR '1'='1",
    "\x00",
    "A" * 3000,
    "AAAA",  # valid base64 of NUL bytes
    b64("hello world"),  # valid base64 of junk
    b64("o=1&r=1"),  # no position
    b64(f"p={ID}&x=1"),  # an unknown token
    b64(f"p={ID}&p={ID}"),
    b64("p=not-a-uuid"),
    b64(f"p={ID.upper()}"),
    b64(f"o=-1&p={ID}"),
    b64(f"o=99999999&p={ID}"),
    b64(f"r=2&p={ID}"),
    b64(f"p={ID}")[:-2],  # truncated
    b64(f"p={ID}") + "!",
    "é",
    "%00",
]


def test_every_list_is_covered():
    assert {path.rsplit("/", 2)[-2] for path in LISTS} >= {"campaigns", "sender_accounts", "leads"}


@pytest.fixture
def filled(workspace, campaign) -> dict[str, str]:
    """Two of each listed object, so every list has a second page at `limit=1` (a lead's
    messages and a webhook's deliveries too: the ids of that lead and that webhook are
    returned, for the lists under `leads/{id}/` and `webhooks/{id}/`)."""
    leads, webhooks = [], []
    for n in range(2):
        Campaign.objects.create(workspace=workspace, name=f"c{n}")
        SenderAccount.objects.create(
            workspace=workspace, type=SenderAccount.Type.NATIVE, email=f"s{n}@acme.test"
        )
        leads.append(
            Lead.objects.create(workspace=workspace, campaign=campaign, email=f"l{n}@acme.test")
        )
    for step in (1, 2):
        Message.objects.create(
            lead=leads[0], campaign=campaign, step=step, status=Message.Status.SENT, attempts=1,
            claimed_at=timezone.now(), sent_at=timezone.now(),
        )  # fmt: skip
    for n in range(2):
        record_event(workspace.pk, "lead.completed", {"n": n})
        webhooks.append(
            WebhookEndpoint.objects.create(
                workspace=workspace, url=f"https://hooks.acme.test/{n}", event_types=["*"],
                secret="whsec_test", created_at=timezone.now(), updated_at=timezone.now(),
            )
        )  # fmt: skip
        WebhookAttempt.objects.create(
            endpoint=webhooks[0], event_id=ID, event_type="lead.completed", attempt=n + 1,
            status_code=500, duration_ms=1, attempted_at=timezone.now(),
        )  # fmt: skip
    return {"leads": str(leads[0].pk), "webhooks": str(webhooks[0].pk)}


def fill(path: str, ids: dict[str, str]) -> str:
    """`path` with its `{id}` the object of `ids` its resource names."""
    return path.replace("{id}", ids.get(path.split("/")[4], ""))


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", GARBAGE, ids=lambda c: repr(c[:20]))
def test_a_forged_cursor_is_a_400(client_all, filled, path, cursor):
    path = fill(path, filled)
    response = client_all.get(f"{path}?{urlencode({'cursor': cursor})}")
    assert response.status_code == 400, response.content
    assert response.json() == {"cursor": ["Invalid cursor."]}


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
def test_the_cursors_the_api_hands_out_work(client_all, filled, path):
    path = fill(path, filled)
    first = client_all.get(path, {"limit": 1}).json()
    second = client_all.get(first["next"]).json()
    back = client_all.get(second["previous"]).json()
    assert second["results"]
    assert second["results"] != first["results"]
    assert back["results"] == first["results"]
    cursor = parse_qs(urlparse(first["next"]).query)["cursor"][0]
    assert client_all.get(path, {"limit": 1, "cursor": cursor}).json() == second


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
def test_an_empty_cursor_is_no_cursor(client_all, filled, path):
    path = fill(path, filled)
    assert client_all.get(f"{path}?cursor=").json() == client_all.get(path).json()


@pytest.mark.parametrize("path", LISTS)
def test_the_schema_documents_the_400(path):
    document = SchemaGenerator().get_schema(request=None, public=True)
    operation = document["paths"][path]["get"]
    cursor = next(p for p in operation["parameters"] if p["name"] == "cursor")
    assert "400" in cursor["description"]
    assert "Invalid cursor." in operation["responses"]["400"]["description"]
