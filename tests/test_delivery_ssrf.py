"""SSRF: the engine connects only to public addresses, checked after DNS resolution at connect
time, unless SMTP_ALLOW_PRIVATE_HOSTS (development and tests) says otherwise."""

import socket
from datetime import timedelta

import pytest

from coldsend.core.netcheck import HostRefused, check_host, is_public
from delivery.models import Message
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    REBINDING_HOST,
    activate,
    add_lead,
    create_account,
    create_campaign,
    rebind_dns,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2001:db8::1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",  # 6to4 carrying 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 carrying 192.168.1.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2001:4860:4860::8888",
    "2606:4700::1111",
    "2002:808:808::1",  # 6to4 carrying 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert is_public(address)


# Names and spellings that resolve to the loopback address.
LOOPBACK_NAMES = ["localhost", "127.1", "2130706433", "0x7f.1", "127.0.0.1"]


@pytest.mark.parametrize("host", LOOPBACK_NAMES)
def test_names_are_checked_after_resolution(host, settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(HostRefused):
        check_host(host, 25)
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True
    check_host(host, 25)


def test_this_machines_own_name_is_refused(settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 25)}
    assert not any(is_public(a) for a in addresses)  # a machine's own name is never public here
    with pytest.raises(HostRefused):
        check_host(name, 25)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(HostRefused):
        check_host("no-such-host.invalid", 25)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1"])
def test_the_engine_refuses_a_private_host_at_connect_time(client_all, sink, clock, settings, host):
    # Created while private hosts were allowed (or its DNS changed since): refused when sending.
    account = create_account(client_all, sink, host=host)
    campaign_id = create_campaign(client_all, [account])
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    run_engine()
    assert sink.greetings == 0  # never connected
    assert sink.received == []
    stored = SenderAccount.objects.get(pk=account)
    assert stored.status == "ERROR"
    assert "not a public address" in stored.last_error
    assert not Message.objects.exists()
    assert Lead.objects.get().status == "PENDING"

    # The control: once allowed, the next re-check brings the account back and it sends.
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True
    clock.shift(timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS))
    run_engine()
    assert SenderAccount.objects.get(pk=account).status == "ACTIVE"
    assert sink.greetings == 2  # the re-check, then the send
    assert [r.rcpt_tos for r in sink.received] == [["ann@example.com"]]


def test_the_engine_connects_only_to_the_address_it_checked(
    client_all, sink, clock, settings, monkeypatch
):
    """DNS rebinding: the host name answers a public address to the SSRF check and loopback
    (where the SMTP server is) to the next lookup. The connection goes to the checked address
    (unreachable here): the local server never hears from the engine."""
    account = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=account).update(smtp_host=REBINDING_HOST)
    campaign_id = create_campaign(client_all, [account])
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    rebind_dns(monkeypatch)
    run_engine()
    monkeypatch.undo()

    assert sink.greetings == 0
    assert sink.received == []
    stored = SenderAccount.objects.get(pk=account)
    assert stored.status == "ERROR"
    assert "Cannot connect to rebind.example" in stored.last_error
