"""Edges a code review found: bodies that broke parsers, answers given before the view
(which still carry the rate-limit headers), list filters on detail routes, a public schema."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from apikeys.keys import generate_key
from campaigns.models import Campaign
from leads.models import Lead
from tests.urls import api_url

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("idempotency_key", [None, "nested-1"])
def test_deeply_nested_json_is_400_not_500(client_all, idempotency_key):
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    response = client_all.post(
        api_url("campaigns"), NESTED, content_type="application/json", **headers
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested too deeply."}
    assert Campaign.objects.count() == 0


def test_too_many_form_fields_is_a_json_400(make_key):
    _, raw = make_key(["*"])
    fields = {f"f{i}": "x" for i in range(1_100)}
    response = Client().post(api_url("leads/import"), fields, HTTP_X_API_KEY=raw)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_a_disallowed_host_is_a_json_400(client):
    response = client.get(api_url("me"), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}


def test_a_replay_carries_the_rate_limit_headers(client_all):
    first = client_all.post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    replay = client_all.post(
        api_url("campaigns"), {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    reused = client_all.post(
        api_url("campaigns"), {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert (first.status_code, replay.status_code, reused.status_code) == (201, 201, 422)
    for response in (replay, reused):
        assert response["X-RateLimit-Limit"] == first["X-RateLimit-Limit"]
        assert "X-RateLimit-Remaining" in response
        assert "X-RateLimit-Reset" in response


@override_settings(API_MAX_BODY_BYTES=100)
def test_a_413_to_a_valid_key_carries_the_rate_limit_headers(client_all):
    response = client_all.post(api_url("campaigns"), {"name": "x" * 200}, format="json")
    assert response.status_code == 413
    assert "X-RateLimit-Limit" in response


def test_list_filters_do_not_apply_to_detail_routes(client_all, workspace):
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    lead = Lead.objects.create(workspace=workspace, campaign=campaign, email="a@x.io")
    assert client_all.get(api_url(f"leads/{lead.id}?status=BOUNCED")).status_code == 200
    assert client_all.get(api_url(f"leads/{lead.id}?email=not-an-email")).status_code == 200
    assert client_all.get(api_url(f"campaigns/{campaign.id}?status=ACTIVE")).status_code == 200
    assert client_all.delete(api_url(f"leads/{lead.id}?status=BOUNCED")).status_code == 204


@pytest.mark.parametrize("path", ["schema", "docs"])
def test_the_schema_and_docs_ignore_a_bad_key(client, make_key, path):
    key, raw = make_key(["*"])
    key.revoke()
    assert client.get(api_url(path), HTTP_X_API_KEY=raw).status_code == 200
    assert client.get(api_url(path), HTTP_X_API_KEY="cs_live_malformed").status_code == 200


def test_a_refused_key_is_looked_up_once_per_request(db, client, django_assert_num_queries):
    raw = generate_key()  # well-formed, unknown: the idempotency check and DRF both need it
    with django_assert_num_queries(1):
        response = client.post(
            api_url("campaigns"),
            {"name": "x"},
            content_type="application/json",
            HTTP_X_API_KEY=raw,
            HTTP_IDEMPOTENCY_KEY="once",
        )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key"}


@override_settings(API_MAX_BODY_BYTES=1_000)
def test_the_import_takes_bodies_larger_than_other_endpoints(client_all, workspace):
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    rows = "".join(f"lead{i}@example.com,Name {i}\n" for i in range(200))  # ~5 KB
    upload = SimpleUploadedFile("leads.csv", ("email,first_name\n" + rows).encode())
    imported = client_all.post(
        api_url("leads/import"),
        {"campaign_id": str(campaign.id), "file": upload},
        format="multipart",
    )
    assert imported.status_code == 201
    assert imported.json()["created"] == 200
    refused = client_all.post(api_url("campaigns"), {"name": "x" * 2_000}, format="json")
    assert refused.status_code == 413
