"""Recovery: from a mended server to the first mail (API.md §7). An account whose server refused
its login is in ERROR with a lead waiting; the server is mended; `POST sender_accounts/{id}/check`
(its action, in-process) makes it ACTIVE; how long until the waiting lead's message arrives?
One `run_worker` on PostgreSQL (ACCOUNT_RECHECK_SECONDS=3600, so only the check can bring it
back), an aiosmtpd server on loopback. Target: within 10 s, with no extra wait.

    python -m bench.recovery          # DATABASE_URL, else a fresh cs_recovery_bench
"""

import os
import statistics
import subprocess
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bench.noisy_neighbour import Sink, sending_campaign
from bench.server import ROOT, base_env, free_port, manage, postgres_database, setup_django

ROUNDS = 5


class Server(Sink):
    refuse = True

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=not self.refuse, handled=False)


def one_round(server: Server, port: int, env: dict, n: int) -> tuple[float, float]:
    """(seconds from the check's answer to the mail, seconds the check took)."""
    from campaigns.models import Campaign
    from inbound.checks import do_check_sender_account
    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    Campaign.objects.all().delete()
    SenderAccount.objects.all().delete()
    server.refuse, address = True, f"wait{n}@example.com"
    workspace, _ = Workspace.objects.get_or_create(slug="recovery", defaults={"name": "Recovery"})
    account = SenderAccount.objects.create(
        workspace=workspace, type="SMTP", email="alice@sender.example", smtp_host="127.0.0.1",
        smtp_port=port, smtp_security="NONE", smtp_username="mailer", smtp_password="secret",
        min_interval_seconds=0, max_interval_seconds=0,
    )  # fmt: skip
    sending_campaign(workspace, account, [address])
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--no-tasks"], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            account.refresh_from_db()
            if account.status == SenderAccount.Status.ERROR:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the account never went to ERROR")
        server.refuse = False
        started = time.monotonic()
        result = do_check_sender_account(account)
        checked = time.monotonic()
        assert result.status == SenderAccount.Status.ACTIVE, result
        while address not in server.recipients and time.monotonic() - checked < 120:
            time.sleep(0.02)
        return time.monotonic() - checked, checked - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def main() -> None:
    url = os.environ.get("DATABASE_URL") or postgres_database("cs_recovery_bench")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must be a PostgreSQL database")
    server = Server()
    port = free_port()
    controller = Controller(
        server, hostname="127.0.0.1", port=port,
        authenticator=server.authenticate, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    env = base_env(
        url, SMTP_ALLOW_PRIVATE_HOSTS="true", ENV_FILE="/dev/null", ACCOUNT_RECHECK_SECONDS="3600"
    )
    try:
        manage(env, "migrate", "--noinput")
        setup_django(env)
        times = [one_round(server, port, env, n) for n in range(ROUNDS)]
    finally:
        controller.stop()
    mail = [t for t, _ in times]
    print(
        f"check took median {statistics.median(c for _, c in times) * 1000:.0f} ms; "
        f"first mail {statistics.median(mail):.2f} s after the check (median of {ROUNDS}; "
        f"min {min(mail):.2f}, max {max(mail):.2f})"
    )


if __name__ == "__main__":
    main()
