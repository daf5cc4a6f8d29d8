"""Per-key rate limits (API.md §3): 429 with Retry-After and the exact body, X-RateLimit-*
headers on every authenticated response, a separate bucket for imports, shared via Redis."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests.urls import api_url

ROOT = Path(__file__).resolve().parent.parent


def limits(default: str = "600/minute", imports: str = "30/minute"):
    return override_settings(RATE_LIMITS={"default": default, "import": imports})


@limits(default="3/minute")
def test_429_after_the_limit_with_retry_after_and_body(make_client):
    client = make_client(["leads:read"])
    statuses = [client.get(api_url("me")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get(api_url("me"))
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 120
    # Retry-After: when one more request fits; the reset header: when all of them are back
    assert time.time() + retry_after <= int(response["X-RateLimit-Reset"]) + 1
    assert response.json() == {"detail": f"Rate limit exceeded. Retry after {retry_after} seconds."}
    assert response["X-RateLimit-Remaining"] == "0"


@limits(default="5/minute")
def test_headers_count_down_on_every_authenticated_response(make_client):
    client = make_client(["*"])
    remaining = []
    for _ in range(3):
        response = client.get(api_url("me"))
        assert response["X-RateLimit-Limit"] == "5"
        reset = int(response["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 120  # sliding window: two periods at most
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2]


@limits(default="5/minute")
def test_refused_and_not_found_answers_carry_the_headers_too(make_client):
    client = make_client(["leads:read"])
    forbidden = client.get(api_url("campaigns"))
    assert forbidden.status_code == 403
    assert forbidden["X-RateLimit-Limit"] == "5"
    missing = client.get(api_url("leads/00000000-0000-7000-8000-000000000000"))
    assert missing.status_code == 404
    assert missing["X-RateLimit-Limit"] == "5"


def test_no_headers_without_a_valid_key(client):
    response = client.get(api_url("me"))
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response


@limits(default="2/minute")
def test_the_limit_is_per_key_not_per_address(make_client):
    first, second = make_client(["*"]), make_client(["*"])
    assert [first.get(api_url("me")).status_code for _ in range(3)] == [200, 200, 429]
    assert second.get(api_url("me")).status_code == 200


@limits(default="100/minute", imports="1/minute")
def test_imports_have_a_lower_limit_of_their_own(make_client):
    client = make_client(["*"])
    body = {"campaign_id": "00000000-0000-7000-8000-000000000000", "leads": []}
    first = client.post(api_url("leads/import"), body, format="json")
    assert first.status_code == 404  # counted: the import ran up to the campaign lookup
    assert first["X-RateLimit-Limit"] == "1"
    assert client.post(api_url("leads/import"), body, format="json").status_code == 429
    # the default bucket is untouched by imports
    assert client.get(api_url("me")).status_code == 200


REDIS = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")

CHILD = """
import django, os, sys
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=os.environ["CHILD_KEY"])
print(" ".join(str(client.get("/api/public/v1/me").status_code) for _ in range(6)))
"""


@pytest.mark.skipif(not REDIS, reason="needs CACHE_URL=redis://… (.ci/run sets it with PostgreSQL)")
@pytest.mark.skipif(connection.vendor != "postgresql", reason="child processes share the database")
@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_two_processes_sharing_redis(make_key):
    _, raw = make_key(["*"])
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RATE_LIMIT": "10/minute",
        "CHILD_KEY": raw,
        "ALLOWED_HOSTS": "localhost",
        "DJANGO_SETTINGS_MODULE": "coldsend.settings",
    }
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD], env=env, cwd=ROOT, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    statuses = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        statuses += out.decode().split()
    assert sorted(statuses) == ["200"] * 10 + ["429"] * 2
