"""JSON text that is not valid Unicode is a 400, not a 500: a lone UTF-16 surrogate escape
(`"\\ud800"`) in a key or a value, at any depth, on every operation that takes a JSON body (issue
12, finding 5). The operations come from the OpenAPI document, so a new route is covered."""

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import API
from webhooks.models import WebhookEndpoint


def json_write_operations() -> list[tuple[str, str]]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("post", "put", "patch")
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


OPERATIONS = json_write_operations()

# Raw JSON text: the escapes reach the parser as written.
BODIES = [
    r'{"\ud800": 1}',
    r'{"name": "\ud800"}',
    r'{"name": "Spring \udfff outreach"}',
    r'{"type": "\ud800", "email": "a@acme.test"}',
    r'{"type": "SMTP", "smtp": {"security": "\udc00"}}',
    r'{"steps": [{"subject": "Hi", "body": "\ud83d"}]}',  # a high surrogate without its pair
    r'{"custom_fields": {"\ude00": "x"}}',
    r'{"leads": [{"email": "a@acme.test", "first_name": "\ud800"}]}',
    r'["\ud800"]',
]


def test_every_json_write_operation_is_covered():
    assert {path.removeprefix(API) for _, path in OPERATIONS} >= {
        "/campaigns/",
        "/campaigns/{id}/",
        "/sender_accounts/",
        "/leads/",
        "/leads/import/",
    }
    assert {method for method, _ in OPERATIONS} == {"POST", "PUT", "PATCH"}


@pytest.fixture
def objects(workspace, campaign) -> dict[str, str]:
    account = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="native@acme.test"
    )
    lead = Lead.objects.create(workspace=workspace, campaign=campaign, email="lead@acme.test")
    webhook = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.acme.test/", event_types=["*"],
        secret="whsec_test", created_at=timezone.now(), updated_at=timezone.now(),
    )  # fmt: skip
    return {
        "campaigns": campaign.pk,
        "sender_accounts": account.pk,
        "leads": lead.pk,
        "webhooks": webhook.pk,
    }


def counts() -> tuple[int, ...]:
    return (
        Campaign.objects.count(),
        SenderAccount.objects.count(),
        Lead.objects.count(),
        WebhookEndpoint.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@pytest.mark.parametrize("body", BODIES)
def test_a_lone_surrogate_is_a_400(client_all: APIClient, objects, method, path, body):
    resource = path.removeprefix(API).split("/")[1]
    url = path.replace("{id}", str(objects[resource]))
    before = counts()
    response = client_all.generic(method, url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "lone UTF-16 surrogate" in response.json()["detail"]
    assert counts() == before


@pytest.mark.django_db
def test_a_surrogate_pair_is_a_character_like_any_other(client_all, campaign):
    response = client_all.generic(
        "POST",
        f"{API}/campaigns",
        r'{"name": "Launch \ud83d\ude80"}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Launch \U0001f680"
    row = r'{"email": "a@acme.test", "first_name": "\ud83d\ude00"}'
    body = f'{{"campaign_id": "{campaign.pk}", "leads": [{row}]}}'
    response = client_all.generic(
        "POST", f"{API}/leads/import", body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert Lead.objects.get(campaign=campaign).first_name == "\U0001f600"


@pytest.mark.django_db
def test_an_escaped_backslash_before_u_d800_is_plain_text(client_all):
    response = client_all.generic(
        "POST", f"{API}/campaigns", r'{"name": "C:\\ud800"}', content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "C:\\ud800"
