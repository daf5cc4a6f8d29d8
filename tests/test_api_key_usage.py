"""Usage records (API.md §1): last_used_at and the scopes a key has actually used, written at
most once per API_KEY_USAGE_WRITE_INTERVAL unless a scope is used for the first time."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import APIKey
from tests.urls import ACTION_SCOPES, api_url, scoped_operations

ME = api_url("me")
CAMPAIGNS = api_url("campaigns")


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def stored(key: APIKey) -> APIKey:
    return APIKey.objects.get(pk=key.pk)


@pytest.mark.django_db
def test_first_use_sets_last_used_at(make_key, django_assert_num_queries):
    key, raw = make_key(["leads:read"])
    assert stored(key).last_used_at is None
    before = timezone.now()
    with django_assert_num_queries(2):  # the key lookup, then the usage write
        assert client_for(raw).get(ME).status_code == 200
    last_used = stored(key).last_used_at
    assert last_used is not None
    assert before <= last_used <= timezone.now()
    assert stored(key).used_scopes == []  # `me` needs no scope


@pytest.mark.django_db
def test_no_write_within_the_interval(make_key, django_assert_num_queries):
    key, raw = make_key()
    client = client_for(raw)
    client.get(ME)
    first = stored(key).last_used_at
    for _ in range(3):
        with django_assert_num_queries(1):  # only the key lookup
            assert client.get(ME).status_code == 200
    assert stored(key).last_used_at == first


@pytest.mark.django_db
def test_writes_again_once_the_interval_has_passed(make_key, django_assert_num_queries):
    key, raw = make_key()
    client = client_for(raw)
    client.get(ME)
    long_ago = timezone.now() - timedelta(hours=1)
    APIKey.objects.filter(pk=key.pk).update(last_used_at=long_ago)
    with django_assert_num_queries(2):
        assert client.get(ME).status_code == 200
    assert stored(key).last_used_at > long_ago + timedelta(minutes=59)


@pytest.mark.django_db
def test_interval_boundary_follows_the_setting(make_key, django_assert_num_queries):
    key, raw = make_key()
    client = client_for(raw)
    client.get(ME)
    APIKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(seconds=30))
    with override_settings(API_KEY_USAGE_WRITE_INTERVAL=60), django_assert_num_queries(1):
        client.get(ME)
    with override_settings(API_KEY_USAGE_WRITE_INTERVAL=10), django_assert_num_queries(2):
        client.get(ME)


@pytest.mark.django_db
@override_settings(API_KEY_USAGE_WRITE_INTERVAL=0)
def test_interval_zero_writes_every_time(make_key, django_assert_num_queries):
    key, raw = make_key()
    client = client_for(raw)
    seen = []
    for _ in range(3):
        with django_assert_num_queries(2):
            assert client.get(ME).status_code == 200
        seen.append(stored(key).last_used_at)
    assert seen == sorted(seen)
    assert seen[0] is not None


@pytest.mark.django_db
def test_refused_requests_record_nothing(make_key):
    key, raw = make_key()
    key.revoke()
    assert client_for(raw).get(ME).status_code == 401
    assert stored(key).last_used_at is None

    expired, expired_raw = make_key(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_for(expired_raw).get(ME).status_code == 401
    assert stored(expired).last_used_at is None


@pytest.mark.django_db
def test_usage_is_per_key(make_key):
    used, raw = make_key(name="used")
    idle, _ = make_key(name="idle")
    client_for(raw).get(ME)
    assert stored(used).last_used_at is not None
    assert stored(idle).last_used_at is None


@pytest.mark.django_db
def test_used_scopes_record_the_scopes_actually_used(make_key):
    key, raw = make_key(["campaigns:all", "leads:all"])
    client = client_for(raw)
    assert client.get(CAMPAIGNS).status_code == 200
    assert stored(key).used_scopes == ["campaigns:read"]
    first_use = stored(key).last_used_at
    assert first_use is not None

    # a scope used for the first time is written even within the interval
    assert client.post(CAMPAIGNS, {"name": "Spring"}, format="json").status_code == 201
    assert stored(key).used_scopes == ["campaigns:create", "campaigns:read"]

    # the same scopes again within the interval: nothing new to write
    APIKey.objects.filter(pk=key.pk).update(last_used_at=first_use)
    assert client.get(CAMPAIGNS).status_code == 200
    assert stored(key).last_used_at == first_use
    assert stored(key).used_scopes == ["campaigns:create", "campaigns:read"]
    assert stored(key).scopes == ["campaigns:all", "leads:all"]  # granted scopes untouched


@pytest.mark.django_db
def test_denied_scope_is_not_recorded_as_used(make_key):
    key, raw = make_key(["leads:read"])
    client = client_for(raw)
    assert client.get(CAMPAIGNS).status_code == 403
    assert stored(key).used_scopes == []


@pytest.mark.django_db(transaction=True)
def test_scopes_first_used_concurrently_are_all_recorded(make_key):
    """One request per scoped operation of the schema, all at once with one `*` key: the audit
    record must end up with every scope, not just the last writer's."""
    by_scope = {}
    for method, url, required in scoped_operations():
        if required in ACTION_SCOPES:
            by_scope.setdefault(required, (method, url))
    assert len(by_scope) > 1
    key, raw = make_key(["*"])
    assert client_for(raw).get(ME).status_code == 200  # last_used_at fresh: only scopes are new
    start = threading.Barrier(len(by_scope))
    statuses: list[int] = []

    def call(method: str, url: str) -> None:
        try:
            start.wait(timeout=10)
            response = getattr(client_for(raw), method)(url, {}, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=op) for op in by_scope.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == len(by_scope)
    assert not {401, 403, 500} & set(statuses), statuses
    assert stored(key).used_scopes == sorted(by_scope)
