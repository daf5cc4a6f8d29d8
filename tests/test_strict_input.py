"""What the schema fuzzer found, pinned down: JSON values of the wrong type are refused, not
coerced; campaigns and leads take JSON only; paths answer 405 to OPTIONS; a malformed
Idempotency-Key is refused only after the key and its scopes are checked."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import api_url

NATIVE = {"type": "NATIVE", "email": "hello@example.com"}
SMTP = {"host": "smtp.example.com", "port": 587, "username": "u", "password": "p"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": 0}, "name", "Must be a string."),
        ({"name": "A", "daily_limit": "5"}, "daily_limit", "Must be an integer."),
        ({"name": "A", "daily_limit": True}, "daily_limit", "Must be an integer."),
        ({"name": "A", "stop_on_reply": "true"}, "stop_on_reply", "Must be true or false."),
        ({"name": "A", "stop_on_reply": 1}, "stop_on_reply", "Must be true or false."),
        (
            {"name": "A", "sender_account_ids": [1]},
            "sender_account_ids",
            {"0": ["Must be a string."]},
        ),
    ],
)
def test_campaign_fields_refuse_other_json_types(client_all, body, field, message):
    response = client_all.post(api_url("campaigns"), body, format="json")
    assert response.status_code == 400
    expected = [message] if isinstance(message, str) else message
    assert response.json()[field] == expected
    assert not Campaign.objects.exists()


def test_nested_schedule_and_steps_refuse_other_json_types(client_all):
    body = {
        "name": "A",
        "schedule": {"timezone": "UTC", "days": ["1"], "start_time": "09:00", "end_time": 17},
        "steps": [{"subject": "Hi", "body": "Hello", "delay_days": "2"}],
    }
    response = client_all.post(api_url("campaigns"), body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "schedule": {"days": {"0": ["Must be an integer."]}, "end_time": ["Must be a string."]},
        "steps": {"0": {"delay_days": ["Must be an integer."]}},
    }
    assert not Campaign.objects.exists()


def test_an_integral_float_is_still_an_integer(client_all):
    response = client_all.post(
        api_url("campaigns"), {"name": "A", "daily_limit": 5.0}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["daily_limit"] == 5


def test_patch_refuses_other_json_types_and_changes_nothing(client_all, campaign):
    response = client_all.patch(
        api_url(f"campaigns/{campaign.pk}"), {"daily_limit": "80"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"daily_limit": ["Must be an integer."]}
    campaign.refresh_from_db()
    assert campaign.daily_limit == 50


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({**NATIVE, "display_name": 0}, {"display_name": ["Must be a string."]}),
        ({**NATIVE, "daily_limit": "10"}, {"daily_limit": ["Must be an integer."]}),
        ({**NATIVE, "email": 5}, {"email": ["Must be a string."]}),
        (
            {"type": "SMTP", "email": "s@example.com", "smtp": {**SMTP, "port": "587"}},
            {"smtp": {"port": ["Must be an integer."]}},
        ),
        (
            {"type": "SMTP", "email": "s@example.com", "smtp": {**SMTP, "password": 1234}},
            {"smtp": {"password": ["Must be a string."]}},
        ),
    ],
)
def test_sender_account_fields_refuse_other_json_types(client_all, body, errors):
    response = client_all.post(api_url("sender_accounts"), body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not SenderAccount.objects.exists()


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"email": 42}, {"email": ["Must be a string."]}),
        ({"email": "a@example.com", "first_name": 7}, {"first_name": ["Must be a string."]}),
        ({"email": "a@example.com", "campaign_id": 7}, {"campaign_id": ["Must be a string."]}),
    ],
)
def test_lead_fields_refuse_other_json_types(client_all, campaign, fields, errors):
    body = {"campaign_id": str(campaign.pk), **fields}
    response = client_all.post(api_url("leads"), body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not Lead.objects.exists()


@pytest.mark.parametrize("path", ["campaigns", "leads"])
def test_campaigns_and_leads_take_json_only(client_all, campaign, path):
    # A form flattened `schedule` and `steps` (or `custom_fields`), which were silently dropped.
    body = {"name": "Form", "campaign_id": str(campaign.pk), "email": "a@example.com"}
    response = client_all.post(api_url(path), body, format="multipart")
    assert response.status_code == 415
    assert "detail" in response.json()
    assert Campaign.objects.count() == 1
    assert not Lead.objects.exists()


@pytest.mark.parametrize("path", ["me", "leads/import", "campaigns", "sender_accounts"])
def test_options_is_not_offered(client_all, path):
    response = client_all.options(api_url(path))
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "OPTIONS" not allowed.'}


MALFORMED_KEYS = ["", "x" * 256, " leading", "trailing ", "tab\there", "caf\u00e9"]


@pytest.mark.parametrize("idempotency_key", MALFORMED_KEYS)
def test_a_malformed_idempotency_key_is_400_for_an_allowed_key(client_all, idempotency_key):
    response = client_all.post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key
    )
    assert response.status_code == 400
    assert response.json() == {
        "Idempotency-Key": [
            "Must be 1 to 255 printable ASCII characters, without spaces at either end."
        ]
    }
    assert response["X-RateLimit-Limit"]
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_a_malformed_idempotency_key_comes_after_401():
    response = APIClient().post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY=""
    )
    assert response.status_code == 401
    assert response.json()["detail"].startswith("API key required")
    assert not Campaign.objects.exists()


def test_a_malformed_idempotency_key_comes_after_403(make_client):
    response = make_client(["leads:read"]).post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY=""
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: campaigns:create",
        "required": ["campaigns:create"],
        "granted": ["leads:read"],
    }
    assert not Campaign.objects.exists()


def test_a_malformed_idempotency_key_on_an_action_checks_the_action_scope(make_client, campaign):
    client = make_client(["campaigns:read", "campaigns:pause"])
    path = api_url(f"campaigns/{campaign.pk}/activate")
    refused = client.post(path, HTTP_IDEMPOTENCY_KEY="")
    assert refused.status_code == 403
    assert refused.json()["required"] == ["campaigns:activate"]
    malformed = client.post(api_url(f"campaigns/{campaign.pk}/pause"), HTTP_IDEMPOTENCY_KEY="")
    assert malformed.status_code == 400
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_malformed_idempotency_key_on_a_method_not_offered_is_405(client_all):
    response = client_all.post(api_url("me"), HTTP_IDEMPOTENCY_KEY="")
    assert response.status_code == 405


@pytest.mark.parametrize("idempotency_key", ["a", "x" * 255, "order 42/retry:1", "~!@#$%^&*()"])
def test_printable_ascii_idempotency_keys_are_accepted(client_all, idempotency_key):
    response = client_all.post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key
    )
    assert response.status_code == 201
    assert Campaign.objects.count() == 1


def test_a_json_import_campaign_id_must_be_a_string(client_all, campaign):
    response = client_all.post(
        api_url("leads/import"), {"campaign_id": 5, "leads": [{"email": "a@b.io"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"campaign_id": ["Must be a string."]}
    assert not Lead.objects.exists()


def test_the_wrong_type_in_a_json_import_row_is_an_invalid_row_not_a_400(client_all, campaign):
    body = {"campaign_id": str(campaign.pk), "leads": [{"email": 5}, 7, {"email": "a@b.io"}]}
    response = client_all.post(api_url("leads/import"), body, format="json")
    assert response.status_code == 201
    assert response.json()["created"] == 1
    assert response.json()["invalid"] == 2
