"""The sending engine: claim what is due, pass the gate, send, record (API.md §7).

1. claim (short transaction per campaign): due leads, follow-ups first, FOR UPDATE SKIP LOCKED;
   their Message rows CLAIMED, an Attempt reserved against the rolling limits, next_send_at
   cleared, the account's next free instant moved by a random gap.
2. gate: the campaign row FOR SHARE (pause takes FOR UPDATE), still ACTIVE, message SENDING,
   MAIL FROM accepted, commit. Once `pause` has answered no gate can pass.
3. send RCPT and DATA on the account's connection, reused for the batch.
4. record (one transaction): the message, the event, the lead's next step or end.
A worker sends for several accounts at once (lanes, SEND_CONNECTIONS on PostgreSQL), each over
its own SMTP and database connection; one account's messages go one after the other.
A CLAIMED row never gated is handed back after the lease; a SENDING row is never sent again
(FAILED "interrupted"): at most once.

The parts: claim.py (1), send.py (2 to 4 for one message, and handing claims back), lanes.py
(a batch over accounts and threads), recovery.py (stale claims, accounts' re-checks), store.py
(the SQL that differs between PostgreSQL and SQLite), claimed.py and outcomes.py (what passes
between them)."""

import threading
from datetime import datetime

from django.conf import settings

from coldsend.core import clock
from delivery.claim import claim, scheduled
from delivery.claimed import Claim
from delivery.lanes import Lanes, deliver, lane_count
from delivery.recovery import due_rechecks, recheck_account, recover

__all__ = [
    "Claim",
    "Lanes",
    "claim",
    "deliver",
    "due_rechecks",
    "lane_count",
    "recheck_account",
    "recover",
    "run_once",
    "run_round",
    "seconds_until_due",
]


def run_once(stop: threading.Event | None = None) -> int:
    """One sending round: recover stale claims, start due re-checks, claim a batch, send it.
    Returns the number of messages claimed. (A worker reads the inboxes before each round:
    run_worker's worker_round.)"""
    from delivery.tasks import enqueue_recheck

    now = clock.now()
    recover(now)
    for account_id in due_rechecks(now):
        enqueue_recheck(account_id)
    claims = claim(now, settings.SEND_BATCH_SIZE)
    if claims:
        deliver(claims, stop)
    return len(claims)


def run_round(lanes: Lanes) -> int:
    """A worker's round: recover stale claims, start due re-checks, and claim for the free
    lanes (never for an account a lane holds), handing each account's claims to a lane without
    waiting for any. Returns the number of messages claimed."""
    from delivery.tasks import enqueue_recheck

    now = clock.now()
    recover(now)
    for account_id in due_rechecks(now):
        enqueue_recheck(account_id)
    if lanes.free() <= 0:
        return 0
    claims = claim(now, settings.SEND_BATCH_SIZE, busy=lanes.busy())
    if claims:
        lanes.submit(claims)
    return len(claims)


def seconds_until_due(now: datetime, cap: float, busy: frozenset = frozenset()) -> float:
    """How long a worker may sleep: until the earliest next_send_at, at most `cap` (leads the
    worker's busy lanes hold do not count: they wait for their lane)."""
    first = scheduled(busy).order_by("next_send_at").values_list("next_send_at", flat=True).first()
    if first is None:
        return cap
    return max(0.0, min(cap, (first - now).total_seconds()))
