"""The noisy neighbour: time to the first message of a healthy account's campaign, activated
while 1, 4 and 16 other accounts' SMTP servers drip their banners one byte every 2 s (each
holding a lane of the worker until its session deadline). One `run_worker` on PostgreSQL,
default settings; the healthy account sends into an aiosmtpd sink on loopback.
Target (API.md §7): <= 10 s for all.

    python -m bench.noisy_neighbour          # DATABASE_URL, else a fresh cs_noisy_bench
"""

import os
import subprocess
import sys
import threading
import time

from aiosmtpd.controller import Controller

from bench.server import ROOT, base_env, free_port, manage, postgres_database, setup_django
from tests.hostile_servers import smtp_tarpit

TARPITS = (1, 4, 16)


class Sink:
    def __init__(self) -> None:
        self.recipients: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.recipients += envelope.rcpt_tos
        return "250 OK"


def account(workspace, email: str, port: int):
    from sender_accounts.models import SenderAccount

    return SenderAccount.objects.create(
        workspace=workspace, type="SMTP", email=email, smtp_host="127.0.0.1", smtp_port=port,
        smtp_security="NONE", min_interval_seconds=0, max_interval_seconds=0,
    )  # fmt: skip


def sending_campaign(workspace, sender, emails: list[str], activate: bool = True):
    from audit.services import Actor
    from delivery import actions

    actor = Actor.command("bench")
    step = {"subject": "Hello", "body": "Hi!", "delay_days": 0}
    campaign = actions.do_create_campaign(
        workspace, {"name": sender.email, "sender_account_ids": [sender.pk], "steps": [step]},
        actor=actor,
    )  # fmt: skip
    actions.do_import_leads(campaign, json_leads=[{"email": e} for e in emails], actor=actor)
    if activate:
        actions.do_activate_campaign(campaign, actor=actor)
    return campaign


def first_message_after(tarpits: int, sink: Sink, sink_port: int, env: dict) -> float:
    from audit.services import Actor
    from campaigns.models import Campaign
    from delivery import actions
    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    Campaign.objects.all().delete()
    SenderAccount.objects.all().delete()
    sink.recipients.clear()
    slow, _ = Workspace.objects.get_or_create(slug="tarpits", defaults={"name": "Tarpits"})
    healthy, _ = Workspace.objects.get_or_create(slug="healthy", defaults={"name": "Healthy"})
    with smtp_tarpit(interval=2.0, lifetime=600) as tarpit:
        for n in range(tarpits):
            sender = account(slow, f"slow{n}@tarpit.example", tarpit.port)
            sending_campaign(slow, sender, [f"stuck{n}-{i}@example.com" for i in range(3)])
        good = account(healthy, "good@healthy.example", sink_port)
        campaign = sending_campaign(healthy, good, ["ann@example.com"], activate=False)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--no-tasks"], cwd=ROOT, env=env
        )
        try:
            deadline = time.monotonic() + 120
            while tarpit.connections < tarpits and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # every tarpit holds a lane now
            started = time.monotonic()
            actions.do_activate_campaign(campaign, actor=Actor.command("bench"))
            while "ann@example.com" not in sink.recipients and time.monotonic() - started < 300:
                time.sleep(0.02)
            return time.monotonic() - started
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def main() -> None:
    url = os.environ.get("DATABASE_URL") or postgres_database("cs_noisy_bench")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must be a PostgreSQL database")
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = base_env(url, SMTP_ALLOW_PRIVATE_HOSTS="true", ENV_FILE="/dev/null")
    try:
        manage(env, "migrate", "--noinput")
        setup_django(env)
        for tarpits in TARPITS:
            took = first_message_after(tarpits, sink, port, env)
            label = f"{tarpits:>2} tarpit account(s)"
            print(f"{label}: first healthy message {took:.2f} s after activation")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
