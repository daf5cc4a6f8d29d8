"""Other people's SMTP servers cannot stall sending (API.md §7): every session has a total
deadline (SMTP_SESSION_DEADLINE_SECONDS) besides the per-read timeout, so a server that drips
its banner one byte at a time ends as the account's fault; an answer is read up to a bounded
length; and a worker never waits for its slowest lane before taking more work, so a tarpit
account in one workspace costs nothing to a healthy account in another. Real servers: the
aiosmtpd sink, and hostile ones written here (tests/hostile_servers.py)."""

import time
import tracemalloc

import pytest
from django.db import connection

from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    activate,
    add_lead,
    create_account,
    create_campaign,
    run_engine,
)
from tests.hostile_servers import smtp_endless_reply, smtp_tarpit
from tests.processes import start_worker, stop, wait_for
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several lanes in one worker need PostgreSQL (one writer at a time on SQLite, where "
    "the session deadline bounds the wait); CI runs this file on PostgreSQL too",
)


def account_of(client, account_id: str) -> dict:
    response = client.get(api_url(f"sender_accounts/{account_id}"))
    assert response.status_code == 200, response.content
    return response.json()


def test_a_dripping_banner_ends_at_the_session_deadline(client_all, sink, clock, settings):
    settings.SMTP_SESSION_DEADLINE_SECONDS = 1.5
    with smtp_tarpit(interval=0.5, lifetime=120) as tarpit:
        account_id = create_account(client_all, sink, port=tarpit.port)
        campaign_id = create_campaign(client_all, [account_id])
        add_lead(client_all, campaign_id, "ann@example.com")
        activate(client_all, campaign_id)
        started = time.monotonic()
        run_engine(rounds=1)
        took = time.monotonic() - started
    assert took < 30  # the banner would have dripped for the tarpit's two minutes
    # The account's fault, the first in a row: it waits ACCOUNT_RETRY_SECONDS (ERROR on the
    # third), the lead is untouched and waits with it.
    account = account_of(client_all, account_id)
    assert account["status"] == "ACTIVE"
    assert account["last_error"] == "The server took over 1.5 seconds (the session deadline)."
    lead = client_all.get(api_url(f"leads?campaign_id={campaign_id}")).json()["results"][0]
    assert lead["status"] == "PENDING"
    assert lead["next_send_at"] == "2026-03-04T12:00:10Z"
    assert not sink.received


def test_an_answer_that_never_ends_is_cut_short(client_all, sink, clock, settings):
    with smtp_endless_reply() as server:
        account_id = create_account(client_all, sink, port=server.port)
        campaign_id = create_campaign(client_all, [account_id])
        add_lead(client_all, campaign_id, "ann@example.com")
        activate(client_all, campaign_id)
        tracemalloc.start()
        run_engine(rounds=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, peak
    account = account_of(client_all, account_id)
    assert account["status"] == "ACTIVE"  # the first failure in a row
    too_long = f"Cannot connect to 127.0.0.1:{server.port} (the server's answer is too long)."
    assert account["last_error"] == too_long


@needs_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_tarpit_in_one_workspace_does_not_hold_up_another(
    client_all, make_client, other_workspace, sink, workers
):
    """End to end with real workers: a tarpit account ACTIVE in one workspace, then a healthy
    account's campaign activated in another: its first message arrives within 10 seconds."""
    with smtp_tarpit(interval=1.0, lifetime=300) as tarpit:
        slow_id = create_account(client_all, sink, port=tarpit.port)
        slow_campaign = create_campaign(client_all, [slow_id])
        add_lead(client_all, slow_campaign, "stuck@example.com")
        activate(client_all, slow_campaign)
        # A byte every second never trips the 4-second read timeout, so only the session
        # deadline could end the tarpit's session; on SIGTERM a worker waits SMTP_TIMEOUT_SECONDS
        # for its lanes (the default, 10, would be waited in full for the lane the tarpit holds).
        processes = [
            start_worker(SMTP_SESSION_DEADLINE_SECONDS="250", SMTP_TIMEOUT_SECONDS="4")
            for _ in range(workers)
        ]
        try:
            assert wait_for(lambda: tarpit.connections >= 1, timeout=60)
            time.sleep(2)  # the tarpit now holds a lane of a worker
            other = make_client(ws=other_workspace)
            healthy = create_campaign(other, [create_account(other, sink)])
            add_lead(other, healthy, "ann@example.com")
            activated = time.monotonic()
            activate(other, healthy)
            assert wait_for(lambda: bool(sink.to("ann@example.com")), timeout=60)
            waited = time.monotonic() - activated
        finally:
            stop(processes)
    assert waited < 10, waited
    assert SenderAccount.objects.get(pk=slow_id).status != "ERROR"  # still within its deadline
