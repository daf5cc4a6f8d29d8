"""With the cache (rate limits, idempotency, admin login counters) unreachable, an authenticated
API request answers a JSON 503 with Retry-After, never a 500, and its request log line says why;
the admin login answers a 503 page; a tracked link still redirects, and the click counts.
Tested against a real Redis URL on a closed local port."""

import json
import logging
import socket

import pytest
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from campaigns.models import Campaign
from engagement.models import EmailEvent
from tests.tracking_support import links_in, parts, send_campaign
from tests.urls import api_url


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def cache_down():
    location = f"redis://127.0.0.1:{closed_port()}/0"
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": location,
            }
        },
        CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS=7,
    )


@pytest.fixture
def dead_cache():
    with cache_down():
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


@pytest.fixture
def axes_on_the_dead_cache(dead_cache):
    """django-axes keeps the cache it found first: make it take the unreachable one, as a
    process started while the cache is down does (and give it the real one back after)."""
    AxesProxyHandler.get_implementation(force=True)
    yield
    AxesProxyHandler.implementation = None


def test_the_admin_login_answers_a_503_page(axes_on_the_dead_cache, db):
    get_user_model().objects.create_superuser("root", "root@example.com", "a long password 1")
    client = Client(raise_request_exception=False)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "a long password 1"}
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in response.content
    assert b"Traceback" not in response.content


@pytest.mark.usefixtures("delivery_settings")
def test_a_click_still_redirects_and_counts(client_all, sink, clock):
    steps = [{"subject": "Hello", "body": "See https://shop.example.com/pricing", "delay_days": 0}]
    campaign_id = send_campaign(client_all, sink, tracking={"clicks": True}, steps=steps)
    [received] = sink.received
    [link] = links_in(parts(received)["text/plain"], "c")

    with cache_down():
        response = Client(raise_request_exception=False).get(link)

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/pricing"
    assert EmailEvent.objects.filter(campaign_id=campaign_id, type="CLICKED").count() == 1
