"""Worker memory while reading an inbox that holds a 300 MB message and 1,000 small ones, and
a server that announces a 300 MB literal for a message it said was 2 KB. The inbox reader runs
in this process; its peak resident memory is measured before and after each poll.
Target (issue "other people's servers"): growth < 100 MB.

    python -m bench.inbox_memory            # SQLite in /tmp
"""

import resource
import time

from bench.server import base_env, manage, setup_django, sqlite_database
from tests.hostile_servers import Mailbox, lying_imap

SMALL = 1_000
HUGE = 300 * 1024 * 1024


def small_message(n: int) -> bytes:
    return (
        f"From: someone{n}@example.com\r\nTo: alice@sender.example\r\nSubject: Hello {n}\r\n"
        f"Message-ID: <small-{n}@example.com>\r\n\r\nA short note, number {n}.\r\n"
    ).encode()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def poll(mailbox: Mailbox) -> tuple[float, dict]:
    from inbound.inbox import poll_account
    from inbound.models import InboxState
    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    with lying_imap(mailbox) as server:
        workspace, _ = Workspace.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        SenderAccount.objects.filter(workspace=workspace).delete()
        account = SenderAccount.objects.create(
            workspace=workspace, type="SMTP", email="alice@sender.example",
            smtp_host="127.0.0.1", smtp_port=25, smtp_security="NONE",
            imap_host="127.0.0.1", imap_port=server.port, imap_username="bench",
            imap_password="bench", imap_security="NONE",
        )  # fmt: skip
        started = time.monotonic()
        seen: dict = {}
        for _ in range(3):  # a lying literal ends a poll; the next one goes on after it
            for kind, count in poll_account(account).items():
                seen[kind] = seen.get(kind, 0) + count
        state = InboxState.objects.get(pk=account.pk)
        return time.monotonic() - started, {"seen": seen, "skipped": state.skipped}


def main() -> None:
    env = base_env(sqlite_database("cs_inbox_memory"), SMTP_ALLOW_PRIVATE_HOSTS="true")
    manage(env, "migrate", "--noinput")
    setup_django(env)
    honest = Mailbox(huge=HUGE)
    honest.messages[1] = (HUGE, small_message(0))  # 300 MB: only its headers are fetched
    for n in range(2, SMALL + 2):
        honest.messages[n] = (200, small_message(n))
    before = peak_mb()
    took, result = poll(honest)
    print(f"300 MB message + {SMALL:,} small ones: peak RSS {before:.0f} -> {peak_mb():.0f} MB "
          f"(+{peak_mb() - before:.0f} MB), {took:.1f} s, {result}")  # fmt: skip
    lying = Mailbox(huge=HUGE)
    lying.messages[1] = (2_000, None)  # says 2 KB, announces a 300 MB literal
    lying.messages[2] = (200, small_message(2))
    before = peak_mb()
    took, result = poll(lying)
    print(f"a 300 MB literal announced for a 2 KB message: peak RSS {before:.0f} -> "
          f"{peak_mb():.0f} MB (+{peak_mb() - before:.0f} MB), {took:.1f} s, {result}")  # fmt: skip


if __name__ == "__main__":
    main()
