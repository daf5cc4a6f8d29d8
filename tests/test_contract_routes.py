"""API.md §4 route by route: the schema offers exactly these operations; each needs exactly its
scope; another workspace's objects are 404 on every method and absent from lists; references
across workspaces are refused. The table is the contract's, written out by hand on purpose."""

import re
import uuid

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.scopes import KNOWN_SCOPES
from campaigns.models import Campaign, CampaignStep
from delivery.models import Message
from events.services import record_event
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import api_url
from webhooks.models import WebhookAttempt, WebhookEndpoint
from webhooks.signing import new_secret

ROUTES = [
    ("get", "me", None),
    ("get", "campaigns", "campaigns:read"),
    ("post", "campaigns", "campaigns:create"),
    ("get", "campaigns/{id}", "campaigns:read"),
    ("patch", "campaigns/{id}", "campaigns:update"),
    ("put", "campaigns/{id}", "campaigns:update"),
    ("delete", "campaigns/{id}", "campaigns:delete"),
    ("post", "campaigns/{id}/pause", "campaigns:pause"),
    ("post", "campaigns/{id}/activate", "campaigns:activate"),
    ("get", "campaigns/{id}/analytics", "campaigns:read"),
    ("post", "campaigns/{id}/preview", "campaigns:read"),
    ("post", "campaigns/{id}/test", "campaigns:update"),
    ("get", "sender_accounts", "sender_accounts:read"),
    ("post", "sender_accounts", "sender_accounts:create"),
    ("get", "sender_accounts/{id}", "sender_accounts:read"),
    ("patch", "sender_accounts/{id}", "sender_accounts:update"),
    ("delete", "sender_accounts/{id}", "sender_accounts:delete"),
    ("post", "sender_accounts/{id}/check", "sender_accounts:update"),
    ("get", "leads", "leads:read"),
    ("post", "leads", "leads:create"),
    ("post", "leads/import", "leads:create"),
    ("get", "leads/{id}", "leads:read"),
    ("delete", "leads/{id}", "leads:delete"),
    ("get", "leads/{id}/messages", "leads:read"),
    ("post", "leads/{id}/reply", "leads:reply"),
    ("get", "events", "events:read"),
    ("get", "events/{id}", "events:read"),
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
SCOPED = [r for r in ROUTES if r[2]]
DETAIL = [r for r in ROUTES if "{id}" in r[1]]
LISTS = ["campaigns", "sender_accounts", "leads", "webhooks", "events"]
# Never listened on: a webhook test against it answers at once (connection refused).
HOOK = "http://127.0.0.1:9/hook"


def test_the_schema_offers_exactly_the_contracts_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    offered = {
        (method, re.sub(r"\{[^}]+\}", "{id}", path.removeprefix("/api/public/v1/").strip("/")))
        for path, methods in schema["paths"].items()
        for method in methods
    } - {("get", "schema"), ("get", "docs")}
    assert offered == {(method, path) for method, path, _ in ROUTES}


def build_workspace_objects(workspace) -> dict[str, str]:
    """A campaign ready to activate, its sender account, a PENDING lead, a webhook endpoint and
    an event; their ids by resource."""
    sender = SenderAccount.objects.create(workspace=workspace, type="NATIVE", email="s@x.io")
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    campaign.sender_accounts.add(sender)
    CampaignStep.objects.create(campaign=campaign, position=0, subject="Hi", body="Hello")
    lead = Lead.objects.create(workspace=workspace, campaign=campaign, email="l@x.io")
    now = timezone.now()
    webhook = WebhookEndpoint.objects.create(
        workspace=workspace,
        url=HOOK,
        event_types=["*"],
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    event = record_event(
        workspace.pk, "lead.unsubscribed", {"lead_id": str(lead.id)}, campaign_id=campaign.id
    )
    return {
        "campaigns": str(campaign.id),
        "sender_accounts": str(sender.id),
        "leads": str(lead.id),
        "webhooks": str(webhook.id),
        "events": str(event.id),
    }


def url_for(path: str, ids: dict[str, str]) -> str:
    return api_url(path.replace("{id}", ids.get(path.split("/")[0], str(uuid.uuid4()))))


def valid_body(path: str, ids: dict[str, str]) -> dict:
    return {
        "campaigns": {"name": "New"},
        "campaigns/{id}": {"name": "Renamed"},
        "sender_accounts": {"type": "NATIVE", "email": "new@x.io"},
        "sender_accounts/{id}": {"display_name": "Renamed"},
        "leads": {"campaign_id": ids["campaigns"], "email": "new@x.io"},
        "leads/import": {"campaign_id": ids["campaigns"], "leads": [{"email": "i@x.io"}]},
        "campaigns/{id}/preview": {"step": 1},
        "campaigns/{id}/test": {"step": 1, "to": "t@x.io"},
        "webhooks": {"url": HOOK, "event_types": ["*"]},
        "webhooks/{id}": {"description": "Renamed"},
        "webhooks/{id}/replay": {"since": "2000-01-01T00:00:00Z"},
        "leads/{id}/reply": {"body": "Thanks!"},
    }.get(path, {})


@pytest.mark.parametrize(
    ("method", "path", "scope"), SCOPED, ids=[f"{m} {p}" for m, p, _ in SCOPED]
)
def test_each_operation_needs_exactly_its_scope(method, path, scope, make_key, workspace):
    ids = build_workspace_objects(workspace)
    if path.endswith("/pause"):  # the one action that needs an ACTIVE campaign
        Campaign.objects.filter(id=ids["campaigns"]).update(status=Campaign.Status.ACTIVE)
    if path.endswith("/preview"):  # a preview of a real lead needs leads:read as well
        Lead.objects.filter(id=ids["leads"]).delete()
    if path.endswith("/reply"):  # a lead is answered once a step went to it
        now = timezone.now()
        Message.objects.create(
            lead_id=ids["leads"], campaign_id=ids["campaigns"], step=1,
            sender_account_id=ids["sender_accounts"], status=Message.Status.SENT, attempts=1,
            message_id="<1@x.io>", subject="Hi", claimed_at=now, attempted_at=now, sent_at=now,
        )  # fmt: skip
    everything_else = [
        s for s in KNOWN_SCOPES if s != "*" and not s.startswith(scope.split(":")[0])
    ]
    everything_else += [
        s
        for s in KNOWN_SCOPES
        if s.startswith(scope.split(":")[0]) and s not in (scope, scope.split(":")[0] + ":all")
    ]
    _, without = make_key(everything_else)
    _, exact = make_key([scope])
    client = APIClient()
    body = valid_body(path, ids)

    client.credentials(HTTP_X_API_KEY=without)
    refused = getattr(client, method)(url_for(path, ids), body, format="json")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": f"Missing required scopes: {scope}",
        "required": [scope],
        "granted": sorted(everything_else),
    }

    client.credentials(HTTP_X_API_KEY=exact)
    allowed = getattr(client, method)(url_for(path, ids), body, format="json")
    assert allowed.status_code < 300, (allowed.status_code, allowed.content)


@pytest.mark.parametrize(
    ("method", "path", "scope"), DETAIL, ids=[f"{m} {p}" for m, p, _ in DETAIL]
)
def test_another_workspaces_objects_are_404_on_every_method(
    method, path, scope, make_client, workspace, other_workspace
):
    mine = build_workspace_objects(workspace)
    theirs = build_workspace_objects(other_workspace)
    before = {
        "campaigns": Campaign.objects.values_list("id", "name", "status").get(
            id=theirs["campaigns"]
        ),
        "sender_accounts": SenderAccount.objects.filter(id=theirs["sender_accounts"]).count(),
        "leads": Lead.objects.values_list("id", "status").get(id=theirs["leads"]),
        "webhooks": WebhookEndpoint.objects.values().get(id=theirs["webhooks"]),
        "attempts": WebhookAttempt.objects.count(),
    }
    client = make_client(["*"])
    response = getattr(client, method)(url_for(path, theirs), valid_body(path, mine), format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    after = {
        "campaigns": Campaign.objects.values_list("id", "name", "status").get(
            id=theirs["campaigns"]
        ),
        "sender_accounts": SenderAccount.objects.filter(id=theirs["sender_accounts"]).count(),
        "leads": Lead.objects.values_list("id", "status").get(id=theirs["leads"]),
        "webhooks": WebhookEndpoint.objects.values().get(id=theirs["webhooks"]),
        "attempts": WebhookAttempt.objects.count(),
    }
    assert after == before


@pytest.mark.parametrize("resource", LISTS)
def test_lists_never_include_another_workspaces_objects(
    resource, make_client, workspace, other_workspace
):
    mine = build_workspace_objects(workspace)
    build_workspace_objects(other_workspace)
    results = make_client(["*"]).get(api_url(resource), {"limit": 100}).json()["results"]
    assert [r["id"] for r in results] == [mine[resource]]


def test_filtering_by_another_workspaces_campaign_finds_nothing(
    make_client, workspace, other_workspace
):
    build_workspace_objects(workspace)
    theirs = build_workspace_objects(other_workspace)
    response = make_client(["*"]).get(api_url("leads"), {"campaign_id": theirs["campaigns"]})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_references_across_workspaces_are_refused(make_client, workspace, other_workspace):
    mine = build_workspace_objects(workspace)
    theirs = build_workspace_objects(other_workspace)
    client = make_client(["*"])
    counts = (Campaign.objects.count(), Lead.objects.count())

    created = client.post(
        api_url("campaigns"),
        {"name": "X", "sender_account_ids": [theirs["sender_accounts"]]},
        format="json",
    )
    assert created.status_code == 400
    assert "sender_account_ids" in created.json()

    patched = client.patch(
        api_url(f"campaigns/{mine['campaigns']}"),
        {"sender_account_ids": [theirs["sender_accounts"]]},
        format="json",
    )
    assert patched.status_code == 400
    assert "sender_account_ids" in patched.json()

    lead = client.post(
        api_url("leads"), {"campaign_id": theirs["campaigns"], "email": "a@x.io"}, format="json"
    )
    assert lead.status_code == 400
    assert "campaign_id" in lead.json()

    imported = client.post(
        api_url("leads/import"),
        {"campaign_id": theirs["campaigns"], "leads": [{"email": "b@x.io"}]},
        format="json",
    )
    assert imported.status_code == 404
    assert imported.json() == {"detail": "Not found."}

    assert (Campaign.objects.count(), Lead.objects.count()) == counts
    assert list(
        Campaign.objects.get(id=mine["campaigns"]).sender_accounts.values_list("id", flat=True)
    ) == [uuid.UUID(mine["sender_accounts"])]


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "sender_accounts/{id}"), ("put", "leads/{id}"), ("patch", "leads/{id}")],
)
def test_sender_accounts_have_no_put_and_leads_no_update(method, path, make_client, workspace):
    ids = build_workspace_objects(workspace)
    response = getattr(make_client(["*"]), method)(
        url_for(path, ids), {"email": "z@x.io"}, format="json"
    )
    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
