"""With the cache (rate limits, idempotency) unreachable, an authenticated API request answers
a JSON 503 with Retry-After, never a 500, and its request log line says why. Tested against a
real Redis URL on a closed local port."""

import json
import logging
import socket

import pytest
from django.test import Client, override_settings

from campaigns.models import Campaign
from tests.builders import api_url


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def dead_cache():
    location = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": location,
            }
        },
        CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS=7,
    ):
        yield


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "7"
    assert response.json() == {
        "detail": "The service is temporarily unavailable: its rate-limit and idempotency store "
        "cannot be reached. Retry after 7 seconds."
    }


def test_authenticated_requests_answer_503(make_key, dead_cache, caplog):
    key, raw = make_key(["*"])
    caplog.set_level(logging.INFO, logger="coldsend.requests")
    client = Client(raise_request_exception=False, HTTP_X_API_KEY=raw)
    assert_unavailable(client.get(api_url("me")))
    assert_unavailable(client.get(api_url("campaigns")))
    assert_unavailable(
        client.post(api_url("campaigns"), {"name": "A"}, content_type="application/json")
    )
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "coldsend.requests"]
    assert [(line["status"], line.get("reason")) for line in lines] == [
        (503, "cache_unavailable")
    ] * 3
    assert lines[0]["key_prefix"] == key.prefix
    assert Campaign.objects.count() == 0


def test_a_post_with_an_idempotency_key_answers_503_and_runs_nothing(make_key, dead_cache):
    _, raw = make_key(["*"])
    client = Client(raise_request_exception=False, HTTP_X_API_KEY=raw)
    response = client.post(
        api_url("campaigns"), {"name": "A"}, content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="outage-1",
    )  # fmt: skip
    assert_unavailable(response)
    assert Campaign.objects.count() == 0


def test_without_a_valid_key_the_answer_is_still_401(dead_cache):
    response = Client().get(api_url("me"))
    assert response.status_code == 401
