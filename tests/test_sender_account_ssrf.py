"""An SMTP host that is not a public address is a 400 at creation (API.md §7 "Where it
connects"): literal IPs, names resolving to one (`localhost`, inet_aton shorthands), and names
that do not resolve, unless SMTP_ALLOW_PRIVATE_HOSTS is on."""

import pytest

from sender_accounts.models import SenderAccount
from tests.urls import api_url

URL = api_url("sender_accounts")
PASSWORD = "ssrf-test-password"

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.25",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 embedding 127.0.0.1
    "2002:a00:1::1",  # 6to4 embedding 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "localhost",
    "127.1",  # shorthand for 127.0.0.1
    "0x7f000001",  # the same, in hex
]


def body(host: str, port: int = 587) -> dict:
    return {
        "type": "SMTP",
        "email": "ops@example.com",
        "smtp": {
            "host": host,
            "port": port,
            "username": "ops",
            "password": PASSWORD,
            "security": "STARTTLS",
        },
    }


@pytest.fixture
def private_hosts_refused(settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False


@pytest.mark.usefixtures("private_hosts_refused")
@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_a_non_public_host_is_refused(client_all, host):
    response = client_all.post(URL, body(host), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["smtp"]
    [message] = response.json()["smtp"]["host"]
    assert "not a public address" in message
    assert PASSWORD.encode() not in response.content
    assert not SenderAccount.objects.exists()


@pytest.mark.usefixtures("private_hosts_refused")
def test_a_name_that_does_not_resolve_is_refused(client_all):
    response = client_all.post(URL, body("no-such-host.invalid"), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "smtp": {"host": ["The host 'no-such-host.invalid' does not resolve."]}
    }
    assert not SenderAccount.objects.exists()


@pytest.mark.usefixtures("private_hosts_refused")
@pytest.mark.parametrize("host", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_a_public_address_is_accepted(client_all, host):
    response = client_all.post(URL, body(host), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["smtp"]["host"] == host


@pytest.mark.usefixtures("private_hosts_refused")
def test_native_accounts_have_no_host_to_check(client_all):
    response = client_all.post(URL, {"type": "NATIVE", "email": "n@example.com"}, format="json")

    assert response.status_code == 201


@pytest.mark.usefixtures("private_hosts_refused")
def test_other_errors_come_first_and_nothing_is_resolved_for_an_invalid_body(client_all):
    invalid = body("127.0.0.1", port=0)

    response = client_all.post(URL, invalid, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "smtp": {"port": ["Ensure this value is greater than or equal to 1."]}
    }


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.25", "localhost", "no-such-host.invalid"])
def test_private_hosts_are_accepted_when_the_setting_allows_them(client_all, settings, host):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True

    response = client_all.post(URL, body(host), format="json")

    assert response.status_code == 201, response.content
