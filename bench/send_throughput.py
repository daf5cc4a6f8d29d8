"""Sending throughput: 10,000 leads, one step, into an aiosmtpd sink on loopback, sent by 1 and
then 2 `run_worker` processes on PostgreSQL; against the floor of a bare loop that builds the
same messages with email.message.EmailMessage and sends them over one reused smtplib
connection. Also one worker with one lane (SEND_CONNECTIONS=1) and one with a non-durable gate.
Then the due-sends query over 1,000,000 leads in 100 campaigns (EXPLAIN ANALYZE).

    python -m bench.send_throughput          # DATABASE_URL, else a fresh cs_engine_bench
"""

import os
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from aiosmtpd.controller import Controller

from bench.server import ROOT, base_env, free_port, manage, postgres_database, setup_django

LEADS = int(os.environ.get("BENCH_LEADS", "10000"))
ACCOUNTS = 8


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now
        return "250 OK"

    def reset(self) -> None:
        self.count, self.first, self.last = 0, 0.0, 0.0


def bare_loop(port: int, n: int) -> float:
    """Messages per second: build with EmailMessage, send over one smtplib connection."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            message = EmailMessage()
            message["From"] = "Sender <s0@sender.example>"
            message["To"] = f"lead{i}@example.com"
            message["Subject"] = f"Hello lead {i}"
            message["Message-ID"] = make_msgid(domain="sender.example")
            message["List-Unsubscribe"] = "<https://cold.example.com/u/token>"
            message.set_content("Hello there,\n\nA short cold email.\n")
            smtp.send_message(message)
    return n / (time.perf_counter() - started)


def prepare_campaign(port: int) -> str:
    from campaigns.models import Campaign, CampaignStep
    from delivery.models import Message
    from delivery.rescheduling import schedule_campaign
    from leads.models import Lead
    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    Message.objects.all().delete()
    Campaign.objects.all().delete()
    SenderAccount.objects.all().delete()
    workspace, _ = Workspace.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    accounts = [
        SenderAccount.objects.create(
            workspace=workspace,
            type="SMTP",
            email=f"s{i}@sender.example",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="NONE",
            daily_limit=10000,
            min_interval_seconds=0,
            max_interval_seconds=0,
        )
        for i in range(ACCOUNTS)
    ]
    campaign = Campaign.objects.create(
        workspace=workspace, name="Bench", daily_limit=10000, status="ACTIVE",
        schedule={"timezone": "UTC", "days": [1, 2, 3, 4, 5, 6, 7], "start_time": "00:00",
                  "end_time": "23:59"},
    )  # fmt: skip
    campaign.sender_accounts.set(accounts)
    CampaignStep.objects.create(
        campaign=campaign, position=1, subject="Hello {{first_name|there}}",
        body="Hello {{first_name|there}},\n\nA short cold email.\n", delay_days=0,
    )  # fmt: skip
    Lead.objects.bulk_create(
        Lead(workspace=workspace, campaign=campaign, email=f"lead{i}@example.com",
             first_name=f"Lead{i}")
        for i in range(LEADS)
    )  # fmt: skip
    schedule_campaign(campaign)
    return str(campaign.pk)


def run_workers(
    env: dict[str, str], handler: CountingHandler, workers: int, tree: Path = ROOT
) -> float:
    """Messages per second of `workers` run_worker processes of the code in `tree`."""
    handler.reset()
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--no-tasks", "--exit-when-idle"],
            cwd=tree,
            env=env,
        )
        for _ in range(workers)
    ]
    deadline = time.monotonic() + 1800
    while handler.count < LEADS and time.monotonic() < deadline:
        if all(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    for proc in procs:
        proc.wait(timeout=120)
    if handler.count != LEADS:
        raise RuntimeError(f"sent {handler.count} of {LEADS}")
    # From the first message received to the last: process start-up is not sending.
    return (handler.count - 1) / (handler.last - handler.first)


DUE_QUERY = (
    "SELECT campaign_id FROM leads_lead WHERE next_send_at <= %s ORDER BY next_send_at LIMIT 50"
)
CLAIM_QUERY = (
    "SELECT id FROM leads_lead WHERE campaign_id = %s AND current_step = 0 "
    "AND next_send_at <= %s ORDER BY next_send_at LIMIT 50 FOR UPDATE SKIP LOCKED"
)


def due_query_plan() -> None:
    """1,000,000 leads over 100 campaigns, 1 % of them due: the engine's due queries."""
    from django.db import connection, transaction

    from campaigns.models import Campaign
    from workspaces.models import Workspace

    workspace = Workspace.objects.get(slug="bench")
    Campaign.objects.filter(name__startswith="Due ").delete()
    campaigns = Campaign.objects.bulk_create(
        Campaign(workspace=workspace, name=f"Due {i}", status="ACTIVE") for i in range(100)
    )
    ids = [str(c.pk) for c in campaigns]
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            """INSERT INTO leads_lead (id, workspace_id, campaign_id, email, first_name, last_name,
                company, custom_fields, status, created_at, current_step, next_send_at)
            SELECT gen_random_uuid(), %s, (%s::uuid[])[1 + i %% 100], 'due' || i || '@example.com',
                '', '', '', '{}', 'PENDING', now(), (i %% 3 = 0)::int,
                now() + make_interval(secs => (i %% 10000) * 86.4 - 864)
            FROM generate_series(1, 1000000) AS i""",
            [workspace.pk, ids],
        )
        cursor.execute("ANALYZE leads_lead")
        print(f"inserted 1,000,000 leads in {time.perf_counter() - started:.1f} s")
        from django.utils import timezone

        now = timezone.now()
        for title, sql, params in [
            ("due campaigns (worker loop)", DUE_QUERY, [now]),
            ("claim of one campaign's new leads", CLAIM_QUERY, [ids[7], now]),
        ]:
            with transaction.atomic():
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [row[0] for row in cursor.fetchall()]
            print(f"\n{title}:\n  " + "\n  ".join(plan))
            timings = []
            for _ in range(20):
                with transaction.atomic():
                    started = time.perf_counter()
                    cursor.execute(sql, params)
                    cursor.fetchall()
                    timings.append(time.perf_counter() - started)
            timings.sort()
            print(f"  median {timings[10] * 1000:.2f} ms over 20 runs")
        cursor.execute("DELETE FROM leads_lead WHERE email LIKE 'due%%@example.com'")


def main() -> None:
    url = os.environ.get("DATABASE_URL") or postgres_database("cs_engine_bench")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must be a PostgreSQL database")
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    env = base_env(
        url, SMTP_ALLOW_PRIVATE_HOSTS="true", SEND_BATCH_SIZE="200", WORKER_MAX_SLEEP_SECONDS="0.2",
        ENV_FILE="/dev/null",
    )  # fmt: skip
    try:
        manage(env, "migrate", "--noinput")
        setup_django(env)
        floor = bare_loop(port, LEADS)
        print(f"{LEADS} leads, {ACCOUNTS} sender accounts, SEND_CONNECTIONS default (4 lanes)")
        print(f"bare loop (EmailMessage + one smtplib connection): {floor:.0f} messages/s")
        results = {}
        for workers in (1, 2):
            prepare_campaign(port)
            results[workers] = run_workers(env, handler, workers)
            print(
                f"{workers} worker(s): {results[workers]:.0f} messages/s "
                f"({results[workers] / floor:.2f}x the bare loop)"
            )
        # One lane: the worker sends for one account at a time (SEND_CONNECTIONS=1).
        prepare_campaign(port)
        serial = run_workers({**env, "SEND_CONNECTIONS": "1"}, handler, 1)
        print(
            f"1 worker, SEND_CONNECTIONS=1: {serial:.0f} messages/s "
            f"({serial / floor:.2f}x the bare loop)"
        )
        # The same with the gate's commit not waiting for the disk (SEND_GATE_DURABLE=false).
        prepare_campaign(port)
        relaxed = run_workers({**env, "SEND_GATE_DURABLE": "false"}, handler, 1)
        print(
            f"1 worker, SEND_GATE_DURABLE=false: {relaxed:.0f} messages/s "
            f"({relaxed / floor:.2f}x the bare loop)"
        )
        due_query_plan()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
