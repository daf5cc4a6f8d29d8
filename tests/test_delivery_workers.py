"""`run_worker` processes: a due send starts within seconds, SIGTERM stops a worker cleanly,
and on PostgreSQL any number of workers (one of them killed mid-run) never send a step twice."""

import os
import signal
import time
from collections import Counter

import pytest
from django.db import connection

from delivery.models import Message
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import activate, add_leads, create_account, create_campaign
from tests.processes import start_worker, stop, wait_for

pytestmark = [pytest.mark.usefixtures("delivery_settings"), pytest.mark.django_db(transaction=True)]

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several worker processes at once need PostgreSQL's row locks (SKIP LOCKED); "
    "CI runs this file on PostgreSQL too",
)


def test_a_worker_sends_what_is_due_and_stops_on_sigterm(client_all, sink):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    worker = start_worker()
    try:
        add_leads(client_all, campaign_id, [{"email": f"w{i}@example.com"} for i in range(3)])
        activated = time.monotonic()
        activate(client_all, campaign_id)
        assert wait_for(lambda: len(sink.received) == 3, timeout=30)
        assert time.monotonic() - activated < 10  # "a due send starts within 10 seconds"
    finally:
        assert stop([worker]) == [0]
    assert set(Lead.objects.values_list("status", flat=True)) == {"COMPLETED"}


@pytest.mark.parametrize("backend", ["db", "rq"])
def test_the_account_recheck_runs_on_the_configured_task_backend(client_all, sink, backend):
    """An account in ERROR comes back through a task (django-tasks-db's worker thread, or an
    RQ worker with its scheduler over Redis), and its waiting lead is sent."""
    sink.refuse_auth = True
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account])
    add_leads(client_all, campaign_id, [{"email": "wait@example.com"}])
    # One task worker (the RQ one runs the scheduler) and one webhook worker: the recheck needs
    # no more, and with RQ each is a process of its own to start.
    env = {
        "TASKS_BACKEND": backend,
        "ACCOUNT_RECHECK_SECONDS": "0.5",
        "TASK_WORKERS": "1",
        "WEBHOOK_WORKERS": "1",
    }
    if backend == "rq":
        env["TASKS_REDIS_URL"] = os.environ.get("TASKS_REDIS_URL", "redis://127.0.0.1:6379/6")
    worker = start_worker(tasks=True, **env)
    try:
        activate(client_all, campaign_id)
        assert wait_for(lambda: SenderAccount.objects.get(pk=account).status == "ERROR", 30)
        sink.refuse_auth = False
        assert wait_for(lambda: len(sink.received) == 1, timeout=60)
        assert SenderAccount.objects.get(pk=account).status == "ACTIVE"
    finally:
        assert stop([worker]) == [0]


@needs_postgresql
def test_four_workers_send_each_step_exactly_once(client_all, sink):
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in range(4)]
    steps = [
        {"subject": "S1 {{email}}", "body": "one", "delay_days": 0},
        {"subject": "S2 {{email}}", "body": "two", "delay_days": 0},
    ]
    campaign_id = create_campaign(client_all, accounts, steps, daily_limit=10000)
    add_leads(client_all, campaign_id, [{"email": f"p{i:04}@example.com"} for i in range(1000)])
    workers = [start_worker() for _ in range(4)]
    try:
        activate(client_all, campaign_id)
        assert wait_for(lambda: len(sink.received) >= 2000), len(sink.received)
        assert wait_for(lambda: not Message.objects.exclude(status="SENT").exists(), timeout=30)
    finally:
        assert stop(workers) == [0, 0, 0, 0]
    received = Counter(r.message["Subject"] for r in sink.received)
    assert len(received) == 2000
    assert set(received.values()) == {1}
    assert Message.objects.filter(status="SENT").count() == 2000
    assert set(Lead.objects.values_list("status", flat=True)) == {"COMPLETED"}


@needs_postgresql
def test_a_killed_worker_never_causes_a_second_send(client_all, sink):
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in range(4)]
    campaign_id = create_campaign(client_all, accounts, daily_limit=10000)
    addresses = [f"k{i:04}@example.com" for i in range(600)]
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    sink.data_delay = 0.002  # so a kill is likely to land mid-transaction
    lease = {"SEND_CLAIM_LEASE_SECONDS": "2"}
    workers = [start_worker(**lease) for _ in range(3)]
    try:
        activate(client_all, campaign_id)
        assert wait_for(lambda: len(sink.received) >= 100)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        workers.append(start_worker(**lease))  # a restarted worker carries on too

        def finished() -> bool:
            return not Lead.objects.filter(status__in=["PENDING", "CONTACTED"]).exists()

        assert wait_for(finished, timeout=120)
    finally:
        assert stop(workers[1:]) == [0, 0, 0]
    per_address = Counter(r.rcpt_tos[0] for r in sink.received)
    assert max(per_address.values()) == 1  # no step ever sent twice
    statuses = Counter(Lead.objects.values_list("status", flat=True))
    assert set(statuses) <= {"COMPLETED", "FAILED"}
    for message in Message.objects.filter(status="FAILED"):
        assert message.error == "interrupted"
    # Everything not interrupted was delivered, exactly once.
    assert statuses["COMPLETED"] == Message.objects.filter(status="SENT").count()
    assert all(per_address[m.lead.email] == 1 for m in Message.objects.filter(status="SENT"))
