"""Idempotency-Key on POSTs, with Stripe's semantics."""

import threading
import time

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from campaigns.models import Campaign
from tests.urls import api_url

BODY = {"name": "Spring outreach"}


def post(client: APIClient, path: str, body: dict, key: str | None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(api_url(path), body, format="json", **headers)


def test_a_retry_replays_the_first_answer(client_all):
    first = post(client_all, "campaigns", BODY, "k-1")
    assert first.status_code == 201
    again = post(client_all, "campaigns/", BODY, "k-1")  # the slash does not matter
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Campaign.objects.count() == 1


def test_json_is_compared_as_data_not_as_bytes(client_all):
    first = client_all.post(
        api_url("campaigns"),
        '{"name": "A", "daily_limit": 10}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    again = client_all.post(
        api_url("campaigns"),
        '{"daily_limit":10,"name":"A"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert Campaign.objects.count() == 1


def test_without_the_header_each_post_runs(client_all):
    post(client_all, "campaigns", BODY, None)
    post(client_all, "campaigns", BODY, None)
    assert Campaign.objects.count() == 2


def test_same_key_with_another_body_is_422(client_all):
    assert post(client_all, "campaigns", BODY, "k-2").status_code == 201
    response = post(client_all, "campaigns", {"name": "Other"}, "k-2")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Campaign.objects.count() == 1


def test_same_key_on_another_path_is_422(client_all):
    created = post(client_all, "campaigns", BODY, "k-3").json()
    response = post(client_all, f"campaigns/{created['id']}/activate", {}, "k-3")
    assert response.status_code == 422


def test_keys_are_scoped_per_api_key(make_client):
    first, second = make_client(["*"]), make_client(["*"])
    a = post(first, "campaigns", BODY, "shared")
    b = post(second, "campaigns", BODY, "shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b
    assert Campaign.objects.count() == 2


def test_nothing_is_stored_on_validation_failure(client_all):
    refused = post(client_all, "campaigns", {"name": ""}, "k-4")
    assert refused.status_code == 400
    # the same key may then be used for a valid request, which runs
    created = post(client_all, "campaigns", BODY, "k-4")
    assert created.status_code == 201
    assert Campaign.objects.count() == 1


def test_nothing_is_stored_on_authentication_or_scope_failure(client, make_client, make_key):
    unauthenticated = client.post(
        api_url("campaigns"), BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-5"
    )
    assert unauthenticated.status_code == 401
    no_scope = post(make_client(["leads:read"]), "campaigns", BODY, "k-5")
    assert no_scope.status_code == 403
    _, raw = make_key(["campaigns:create"])
    client.credentials = None
    created = client.post(
        api_url("campaigns"),
        BODY,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-5",
        HTTP_X_API_KEY=raw,
    )
    assert created.status_code == 201


def test_an_invalid_idempotency_key_is_400(client_all):
    response = post(client_all, "campaigns", BODY, "x" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert Campaign.objects.count() == 0


def test_a_state_conflict_is_replayed_too(client_all):
    created = post(client_all, "campaigns", BODY, None).json()
    first = post(client_all, f"campaigns/{created['id']}/pause", {}, "k-6")
    assert first.status_code == 409
    again = post(client_all, f"campaigns/{created['id']}/pause", {}, "k-6")
    assert again.status_code == 409
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def _hold_write_lock(campaign_id) -> object:
    """Block writers to the campaign from another connection, as a long request would."""
    other = connections.create_connection("default")
    other.set_autocommit(False)
    with other.cursor() as cursor:
        if other.vendor == "postgresql":
            cursor.execute(
                "SELECT id FROM campaigns_campaign WHERE id = %s FOR UPDATE", [campaign_id]
            )
        else:
            cursor.execute(
                "UPDATE campaigns_campaign SET name = name WHERE id = %s",
                [campaign_id.replace("-", "")],
            )
    return other


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_is_running_is_409(make_client, workspace):
    client = make_client(["*"])
    sender = client.post(
        api_url("sender_accounts"), {"type": "NATIVE", "email": "s@example.com"}, format="json"
    ).json()
    campaign = post(
        client,
        "campaigns",
        {
            "name": "Race",
            "sender_account_ids": [sender["id"]],
            "steps": [{"subject": "Hi", "body": "Hello", "delay_days": 0}],
        },
        None,
    ).json()
    # The retry now passes the key's checks first (its scope use is recorded then): record it
    # before the lock, so on SQLite only the running request waits for the write lock.
    other = post(client, "campaigns", {"name": "Other", "sender_account_ids": [sender["id"]],
                 "steps": [{"subject": "Hi", "body": "Hello", "delay_days": 0}]}, None)  # fmt: skip
    assert post(client, f"campaigns/{other.json()['id']}/activate", {}, None).status_code == 200
    lock = _hold_write_lock(campaign["id"])
    results = {}

    def first_request() -> None:
        try:
            results["first"] = post(client, f"campaigns/{campaign['id']}/activate", {}, "k-7")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        time.sleep(1.0)  # the first request is now waiting for the lock, holding the key
        if connection.vendor == "postgresql":  # a retry that ran would wait: fail, not hang
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '10s'")
        retry = post(client, f"campaigns/{campaign['id']}/activate", {}, "k-7")
        assert retry.status_code == 409
        assert retry.json()["code"] == "idempotency_in_progress"
    finally:
        lock.rollback()
        lock.close()
        thread.join(timeout=30)
    assert results["first"].status_code == 200
    assert results["first"].json()["status"] == "ACTIVE"
    replay = post(client, f"campaigns/{campaign['id']}/activate", {}, "k-7")
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
