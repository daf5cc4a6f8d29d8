"""The `imap` block of SMTP sender accounts (API.md §8): optional, refused for NATIVE accounts,
the password write-only and encrypted at rest, the host under the same SSRF rule as SMTP."""

import pytest
from django.db import connection

from sender_accounts.models import SenderAccount
from tests.urls import api_url

URL = api_url("sender_accounts")
IMAP_PASSWORD = "imap s3cret-Pass"
IMAP = {
    "host": "93.184.215.14",  # a public address: no DNS needed
    "port": 993,
    "username": "sales@example.com",
    "password": IMAP_PASSWORD,
    "security": "SSL",
}
SMTP = {
    "host": "93.184.215.15",  # public too: with private hosts refused, names would need DNS
    "port": 465,
    "username": "sales@example.com",
    "password": "smtp-pass",
    "security": "SSL",
}


def body(**fields) -> dict:
    return {"type": "SMTP", "email": "sales@example.com", "smtp": SMTP, **fields}


@pytest.fixture(autouse=True)
def public_hosts_only(settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False


def test_an_smtp_account_takes_an_inbox_and_never_returns_its_password(client_all):
    response = client_all.post(URL, body(imap=IMAP), format="json")

    assert response.status_code == 201, response.content
    imap = response.json()["imap"]
    assert imap == {k: v for k, v in IMAP.items() if k != "password"}
    assert IMAP_PASSWORD not in response.content.decode()
    detail = client_all.get(f"{URL}/{response.json()['id']}")
    assert detail.json()["imap"] == imap
    assert IMAP_PASSWORD not in detail.content.decode()
    account = SenderAccount.objects.get(pk=response.json()["id"])
    assert account.imap_password == IMAP_PASSWORD
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT imap_password FROM sender_accounts_senderaccount WHERE id = %s",
            [account.pk.hex if connection.vendor == "sqlite" else account.pk],
        )
        (stored,) = cursor.fetchone()
    assert IMAP_PASSWORD not in stored  # encrypted at rest


def test_the_inbox_is_optional_and_null_when_absent(client_all):
    response = client_all.post(URL, body(), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["imap"] is None


def test_security_defaults_to_ssl(client_all):
    imap = {k: v for k, v in IMAP.items() if k != "security"}

    response = client_all.post(URL, body(imap=imap), format="json")

    assert response.json()["imap"]["security"] == "SSL"


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"type": "NATIVE", "email": "a@example.com", "imap": IMAP}, "imap"),
        (body(imap={**IMAP, "host": "127.0.0.1"}), "host"),
        (body(imap={**IMAP, "host": "10.1.2.3"}), "host"),
        (body(imap={**IMAP, "host": "169.254.169.254"}), "host"),
        (body(imap={**IMAP, "host": "2002:7f00:1::1"}), "host"),  # 6to4 carrying 127.0.0.1
        (body(imap={**IMAP, "host": "imap.example.com:993"}), "host"),
        (body(imap={**IMAP, "port": 0}), "port"),
        (body(imap={**IMAP, "security": "TLS"}), "security"),
        (body(imap={k: v for k, v in IMAP.items() if k != "password"}), "password"),
        (body(imap={**IMAP, "folder": "INBOX"}), "folder"),
        (body(imap={**IMAP, "username": "a\r\nb"}), "username"),
    ],
)
def test_invalid_inbox_settings_are_400_and_save_nothing(client_all, request_body, field):
    response = client_all.post(URL, request_body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert IMAP_PASSWORD not in response.content.decode()
    assert not SenderAccount.objects.exists()


def test_private_inbox_hosts_are_allowed_when_the_setting_says_so(client_all, settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True

    response = client_all.post(URL, body(imap={**IMAP, "host": "127.0.0.1"}), format="json")

    assert response.status_code == 201, response.content
