"""What the idempotency store keeps is bounded: an answer over IDEMPOTENCY_MAX_STORED_BYTES,
or past the API key's budget of IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY, is kept as its
fingerprint and status only. A retry of such a request is never run again: it answers 409
`idempotency_response_not_stored`, naming the original status and the object's id; another
body under the same key is still 422."""

from django.test import override_settings

from campaigns.models import Campaign
from tests.urls import api_url

STEP_BODY = "x" * 5000
BIG = {"name": "Big", "steps": [{"subject": "Hi", "body": STEP_BODY, "delay_days": 0}] * 4}


def create(client, body: dict, key: str):
    return client.post(api_url("campaigns"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@override_settings(IDEMPOTENCY_MAX_STORED_BYTES=10_000)
def test_an_answer_over_the_bound_is_not_replayed_but_never_run_again(client_all):
    first = create(client_all, BIG, "big-1")
    assert first.status_code == 201
    assert len(first.content) > 10_000
    campaign_id = first.json()["id"]
    retry = create(client_all, BIG, "big-1")
    assert retry.status_code == 409
    assert retry["Idempotent-Replayed"] == "true"
    body = retry.json()
    assert body["code"] == "idempotency_response_not_stored"
    assert body["original_status"] == 201
    assert body["id"] == campaign_id
    assert campaign_id in body["detail"]
    assert "already succeeded" in body["detail"]
    assert Campaign.objects.count() == 1
    other = create(client_all, {"name": "Other"}, "big-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Campaign.objects.count() == 1


@override_settings(IDEMPOTENCY_MAX_STORED_BYTES=10_000)
def test_answers_within_the_bound_are_replayed_whole(client_all):
    first = create(client_all, {"name": "Small"}, "small-1")
    replay = create(client_all, {"name": "Small"}, "small-1")
    assert replay.status_code == 201
    assert replay.json() == first.json()


@override_settings(IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY=25_000)
def test_past_the_keys_budget_answers_are_kept_as_fingerprints(make_client):
    client, other_client = make_client(["*"]), make_client(["*"])
    ids = [create(client, BIG, f"budget-{i}").json()["id"] for i in range(3)]  # ~21 KB each
    assert create(client, BIG, "budget-0").status_code == 201  # within the budget: replayed
    over = create(client, BIG, "budget-1")
    assert over.status_code == 409
    assert over.json()["id"] == ids[1]
    assert create(client, BIG, "budget-2").status_code == 409
    # the budget is per API key
    assert create(other_client, BIG, "budget-0").status_code == 201
    assert create(other_client, BIG, "budget-0").status_code == 201
    assert Campaign.objects.count() == 4
