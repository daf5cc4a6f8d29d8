"""Lanes: one worker sends for several sender accounts at once, each over its own SMTP and
database connection (SEND_CONNECTIONS, PostgreSQL), so a slow mailbox does not hold the others
up; every rule still holds across lanes (each step once, pause immediate)."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from delivery.models import Message
from leads.models import Lead
from tests.delivery_support import (
    Pauser,
    activate,
    add_leads,
    create_account,
    create_campaign,
    run_engine,
)

pytestmark = [
    pytest.mark.usefixtures("delivery_settings"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="lanes run on PostgreSQL (SQLite has one writer at a time: one lane); "
        "CI runs this file on PostgreSQL too",
    ),
]


def test_one_worker_has_a_transaction_open_on_each_account_at_once(client_all, sink, settings):
    """Each account's first MAIL FROM waits at the server until the other account's has
    arrived too: a worker sending one account after the other never gets past the first."""
    settings.SEND_CONNECTIONS = 2
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in (1, 2)]
    campaign_id = create_campaign(client_all, accounts)
    addresses = [f"l{i}@example.com" for i in range(6)]
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    meeting = threading.Barrier(2, timeout=5)
    met: set[str] = set()

    def on_mail(sender: str) -> None:
        if sender not in met:
            met.add(sender)
            meeting.wait()  # BrokenBarrierError (the server answers 5xx) if alone

    sink.on_mail = on_mail
    activate(client_all, campaign_id)
    run_engine()

    assert not meeting.broken
    assert met == {"s1@sender.example", "s2@sender.example"}
    assert Counter(r.rcpt_tos[0] for r in sink.received) == Counter(addresses)
    assert Counter(r.mail_from for r in sink.received) == {
        "s1@sender.example": 3,
        "s2@sender.example": 3,
    }
    assert set(Message.objects.values_list("status", flat=True)) == {"SENT"}
    assert set(Lead.objects.values_list("status", flat=True)) == {"COMPLETED"}


def test_pause_stops_every_lane(client_all, sink, settings):
    settings.SEND_CONNECTIONS = 3
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in (1, 2, 3)]
    campaign_id = create_campaign(client_all, accounts)
    addresses = [f"l{i}@example.com" for i in range(30)]
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    activate(client_all, campaign_id)
    pauser = Pauser(client_all, campaign_id)
    mail_from: list[int] = []
    lock = threading.Lock()

    def on_mail(sender: str) -> None:
        with lock:  # the server may run two of these at once
            mail_from.append(time.monotonic_ns())
            pause = len(mail_from) >= 4 and not pauser.started()  # a few sends in
            if pause:
                pauser.start()
        if pause:
            time.sleep(0.2)  # the pause waits on the campaign's row while gates hold it

    sink.on_mail = on_mail
    sink.data_delay = 0.01
    run_engine()
    assert pauser.join()

    assert [t for t in mail_from if t > pauser.answered] == []
    assert 1 <= len(sink.received) < len(addresses)
    assert not Message.objects.filter(status__in=["CLAIMED", "SENDING"]).exists()

    # Resume: every lead gets its one message, none twice.
    sink.on_mail = None
    activate(client_all, campaign_id)
    run_engine()
    assert Counter(r.rcpt_tos[0] for r in sink.received) == Counter(addresses)
    assert set(Message.objects.values_list("status", flat=True)) == {"SENT"}
