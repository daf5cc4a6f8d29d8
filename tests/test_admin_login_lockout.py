"""Admin logins (API.md §9): after 10 failed logins for one username, or from one address, logins
for it are refused for 15 minutes, the right password included; an administrator lifts a lockout
with `axes_reset_username` / `axes_reset_ip`, or every one at once with `axes_reset`. Counted in
the cache (django-axes' cache handler). Through the real admin login form, as a browser would
post it."""

import io

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.urls import api_url

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"
LIMIT = 10
A, B, C = "203.0.113.1", "203.0.113.2", "203.0.113.3"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Every attempt hashes a password (unknown users too): the default hasher is slow on
    purpose, which would make this file take a minute."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admins(db) -> None:
    for name in ("root", "ops"):
        get_user_model().objects.create_superuser(name, f"{name}@example.com", PASSWORD)


def log_in(username: str, password: str, ip: str, client: Client | None = None) -> int:
    """The status of one login attempt: 302 logged in, 200 the form again, 429 locked out."""
    client = client or Client()
    response = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)
    if response.status_code == 302:
        assert client.get("/admin/", REMOTE_ADDR=ip).status_code == 200
    return response.status_code


def fail(times: int, username: str, ip: str) -> list[int]:
    return [log_in(username, "wrong", ip) for _ in range(times)]


def test_the_limit_and_the_lockout_come_from_the_settings():
    assert django_settings.AXES_FAILURE_LIMIT == LIMIT
    assert django_settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert django_settings.AXES_HANDLER == "axes.handlers.cache.AxesCacheHandler"


def test_nine_failures_still_let_the_right_password_in(admins):
    assert fail(LIMIT - 1, "root", A) == [200] * (LIMIT - 1)
    assert log_in("root", PASSWORD, A) == 302


def test_ten_failures_lock_the_user_out_right_password_included(admins):
    assert fail(LIMIT, "root", A) == [200] * (LIMIT - 1) + [429]
    client = Client()
    assert log_in("root", PASSWORD, A, client) == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/", REMOTE_ADDR=A).status_code == 302  # to the login page
    # Another user from another address is not affected.
    assert log_in("ops", PASSWORD, B) == 302


def test_the_username_is_locked_whatever_the_address(admins):
    statuses = [log_in("root", "wrong", f"198.51.100.{n}") for n in range(LIMIT)]
    assert statuses[-1] == 429
    assert log_in("root", PASSWORD, C) == 429
    assert log_in("ops", PASSWORD, C) == 302  # that address itself is fine


def test_the_address_is_locked_whatever_the_username(admins):
    statuses = [log_in(f"guess{n}", "wrong", A) for n in range(LIMIT)]
    assert statuses[-1] == 429
    assert log_in("ops", PASSWORD, A) == 429
    assert log_in("ops", PASSWORD, B) == 302


def test_an_administrator_lifts_a_username_lockout(admins):
    [log_in("root", "wrong", f"198.51.100.{n}") for n in range(LIMIT)]
    assert log_in("root", PASSWORD, C) == 429
    call_command("axes_reset_username", "root")
    assert log_in("root", PASSWORD, C) == 302


def test_an_administrator_lifts_an_address_lockout(admins):
    [log_in(f"guess{n}", "wrong", A) for n in range(LIMIT)]
    assert log_in("ops", PASSWORD, A) == 429
    call_command("axes_reset_ip", A)
    assert log_in("ops", PASSWORD, A) == 302


def test_an_administrator_lifts_every_lockout_at_once(admins):
    [log_in("root", "wrong", f"198.51.100.{n}") for n in range(LIMIT)]
    [log_in(f"guess{n}", "wrong", A) for n in range(LIMIT)]
    assert (log_in("root", PASSWORD, C), log_in("ops", PASSWORD, A)) == (429, 429)
    out = io.StringIO()
    call_command("axes_reset", stdout=out)
    assert "lockout counters removed" in out.getvalue()
    assert (log_in("root", PASSWORD, C), log_in("ops", PASSWORD, A)) == (302, 302)
    call_command("axes_reset", stdout=out)  # nothing left: says so
    assert out.getvalue().endswith("No lockouts found.\n")


def test_a_locked_out_address_still_uses_the_api(admins, make_key):
    [log_in(f"guess{n}", "wrong", A) for n in range(LIMIT)]
    _, raw = make_key(["*"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(api_url("me"), REMOTE_ADDR=A).status_code == 200
    assert client.post(api_url("campaigns"), {"name": "x"}, REMOTE_ADDR=A).status_code == 201


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_address_it_saw_counts_not_the_clients_claim(admins):
    def via_proxy(username: str, password: str, claimed: str, seen: str) -> int:
        response = Client().post(
            LOGIN,
            {"username": username, "password": password},
            REMOTE_ADDR="10.0.0.1",  # the proxy
            HTTP_X_FORWARDED_FOR=f"{claimed}, {seen}",
        )
        return response.status_code

    statuses = [via_proxy(f"guess{n}", "wrong", f"192.0.2.{n}", A) for n in range(LIMIT)]
    assert statuses[-1] == 429  # a forged leftmost entry does not spread the count
    assert via_proxy("ops", PASSWORD, B, A) == 429
    assert via_proxy("ops", PASSWORD, A, B) == 302  # nor does it borrow another's lockout
