"""Authentication (API.md §1, §3): every 401 case over HTTP, both headers, and query counts."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey
from tests.urls import api_url
from workspaces.models import Workspace

ME = api_url("me")
KEY_REQUIRED = "API key required. Include your API key in X-API-Key header."
INVALID = "Invalid or revoked API key"
EXPIRED = "API key expired"


def assert_401(response, detail: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == "ApiKey"
    assert response["Content-Type"].startswith("application/json")


def get_me(**headers):
    return APIClient().get(ME, **headers)


def malformed_variants() -> list[tuple[str, str]]:
    good = keys.generate_key()
    body = good.removeprefix("cs_live_")
    last = "b" if good[-1] == "a" else "a"
    return [
        ("too short", good[:-1]),
        ("too long", good + "a"),
        ("only the prefix", "cs_live_"),
        ("wrong prefix", "cs_test_" + body),
        ("no prefix", body),
        ("non-base62 character", good[:20] + "-" + good[21:]),
        ("bad checksum", good[:-1] + last),
    ]


MALFORMED = malformed_variants()


@pytest.mark.django_db
def test_missing_key():
    assert_401(get_me(), KEY_REQUIRED)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_API_KEY": ""},
        {"HTTP_X_API_KEY": "   "},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    ],
    ids=["empty header", "blank header", "empty bearer", "other auth scheme"],
)
def test_empty_or_foreign_credentials_count_as_missing(headers):
    assert_401(get_me(**headers), KEY_REQUIRED)


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "raw"), MALFORMED, ids=[c for c, _ in MALFORMED])
@pytest.mark.parametrize("header", ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION"])
def test_malformed_key_is_refused_without_a_query(django_assert_num_queries, case, raw, header):
    assert not keys.is_well_formed(raw)
    value = f"Bearer {raw}" if header == "HTTP_AUTHORIZATION" else raw
    with django_assert_num_queries(0):
        response = get_me(**{header: value})
    assert_401(response, INVALID)
    if len(raw) > len("cs_live_"):
        assert raw not in response.content.decode()


@pytest.mark.django_db
def test_unknown_well_formed_key(django_assert_num_queries):
    raw = keys.generate_key()
    assert keys.is_well_formed(raw)
    with django_assert_num_queries(1):
        response = get_me(HTTP_X_API_KEY=raw)
    assert_401(response, INVALID)
    assert raw not in response.content.decode()


@pytest.mark.django_db
def test_known_prefix_but_wrong_secret_is_refused(make_key):
    _, raw = make_key()
    # same lookup prefix, different secret, valid checksum
    random_part = raw[8:16] + ("A" * 26 if raw[16:42] != "A" * 26 else "B" * 26)
    forged = f"cs_live_{random_part}{keys.checksum(random_part)}"
    assert keys.is_well_formed(forged)
    assert forged[:16] == raw[:16]
    assert_401(get_me(HTTP_X_API_KEY=forged), INVALID)


@pytest.mark.django_db
def test_revoked_key(make_key):
    key, raw = make_key()
    assert get_me(HTTP_X_API_KEY=raw).status_code == 200
    key.revoke()
    assert_401(get_me(HTTP_X_API_KEY=raw), INVALID)
    assert_401(get_me(HTTP_AUTHORIZATION=f"Bearer {raw}"), INVALID)


@pytest.mark.django_db
def test_expired_key(make_key):
    _, raw = make_key(expires_at=timezone.now() - timedelta(seconds=1))
    assert_401(get_me(HTTP_X_API_KEY=raw), EXPIRED)
    assert_401(get_me(HTTP_AUTHORIZATION=f"Bearer {raw}"), EXPIRED)


@pytest.mark.django_db
def test_key_expiring_later_works(make_key):
    _, raw = make_key(expires_at=timezone.now() + timedelta(minutes=5))
    assert get_me(HTTP_X_API_KEY=raw).status_code == 200


@pytest.mark.django_db
def test_revoked_and_expired_key_says_invalid(make_key):
    key, raw = make_key(expires_at=timezone.now() - timedelta(days=1))
    key.revoke()
    assert_401(get_me(HTTP_X_API_KEY=raw), INVALID)


@pytest.mark.django_db
def test_both_headers_differing_is_refused(make_key):
    _, raw_a = make_key(name="a")
    _, raw_b = make_key(name="b")
    response = get_me(HTTP_X_API_KEY=raw_a, HTTP_AUTHORIZATION=f"Bearer {raw_b}")
    assert_401(response, INVALID)
    body = response.content.decode()
    assert raw_a not in body
    assert raw_b not in body


@pytest.mark.django_db
def test_both_headers_differing_even_if_one_is_garbage(make_key):
    _, raw = make_key()
    assert_401(get_me(HTTP_X_API_KEY=raw, HTTP_AUTHORIZATION="Bearer nope"), INVALID)
    assert_401(get_me(HTTP_X_API_KEY="nope", HTTP_AUTHORIZATION=f"Bearer {raw}"), INVALID)


@pytest.mark.django_db
def test_both_headers_equal_is_accepted(make_key):
    _, raw = make_key(name="both")
    response = get_me(HTTP_X_API_KEY=raw, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["name"] == "both"


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_alone_is_accepted(make_key, scheme):
    _, raw = make_key(name="bearer key")
    response = get_me(HTTP_AUTHORIZATION=f"{scheme} {raw}")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "bearer key"
    assert response.json()["prefix"] == raw[:16]


@pytest.mark.django_db
def test_x_api_key_alone_is_accepted(make_key):
    _, raw = make_key(name="header key")
    response = get_me(HTTP_X_API_KEY=raw)
    assert response.status_code == 200
    assert response.json()["name"] == "header key"
    assert raw not in response.content.decode()


@pytest.mark.django_db
def test_valid_key_costs_one_query_once_warm(make_key, django_assert_num_queries):
    _, raw = make_key()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(ME).status_code == 200  # first use writes last_used_at
    for _ in range(3):
        with django_assert_num_queries(1):
            assert client.get(ME).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_keys_authenticate_from_concurrent_threads(make_key):
    """Each thread has its own database connection; the lookup must work on every one."""
    made = [make_key(name=f"key {i}") for i in range(4)]
    _, expired_raw = make_key(name="old", expires_at=timezone.now() - timedelta(days=1))
    results: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(made) + 1)

    def call(raw: str) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                response = get_me(HTTP_X_API_KEY=raw)
                with lock:
                    results.append((raw, response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(raw,)) for _, raw in made]
    threads.append(threading.Thread(target=call, args=(expired_raw,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 3 * len(threads)
    names = {raw: key.name for key, raw in made}
    for raw, status, body in results:
        if raw == expired_raw:
            assert (status, body) == (401, {"detail": EXPIRED})
        else:
            assert status == 200
            assert body["name"] == names[raw]
            assert body["prefix"] == raw[:16]


def test_the_key_lookup_loads_the_same_key_and_workspace_as_the_orm(make_key, workspace):
    key, raw = make_key(["campaigns:read"])
    with CaptureQueriesContext(connection) as queries:
        looked_up = APIKey.objects.authenticate(raw)
    assert len(queries) == 1
    expected = APIKey.objects.select_related("workspace").get(pk=key.pk)
    for model, got, want in [
        (APIKey, looked_up, expected),
        (Workspace, looked_up.workspace, expected.workspace),
    ]:
        for field in model._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
            assert type(getattr(got, field.attname)) is type(getattr(want, field.attname))
        assert got.get_deferred_fields() == set()
