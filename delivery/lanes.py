"""Sending claims: one connection per account, one account's messages one after the other,
several accounts at once (lanes, SEND_CONNECTIONS on PostgreSQL), each over its own SMTP and
database connection.

`Lanes` is the worker's: a lane takes one account's claims and is free again when they are
sent, and the worker claims more as soon as any lane is free, for the accounts no lane holds.
It never waits for its slowest lane: a server that drips its answers holds its own lane, up to
its session deadline, and nothing else. `deliver` sends one batch and returns when all of it
is sent (the in-process round of `engine.run_once`)."""

import logging
import queue
import threading
import time
import uuid
from collections import Counter, defaultdict, deque

from django.conf import settings
from django.db import close_old_connections, connection, connections

from delivery.claimed import Claim
from delivery.completion import complete_if_done
from delivery.outcomes import Outcome
from delivery.protection import protect_from_bounces
from delivery.records import Event, event_totals
from delivery.send import account_failed, account_sent, read_contexts, release, send_one
from delivery.transport import AccountError, open_session
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")


def _deliver_account(
    account_id: uuid.UUID,
    items: list[Claim],
    stop: threading.Event | None,
    watched: dict[uuid.UUID, bool],
    outcomes: Counter,
    ended: set[uuid.UUID],
) -> None:
    """Send one account's claims over one connection, counting the outcomes and noting the
    campaigns where a lead's sequence ended (kept even when a later message raises)."""
    account = SenderAccount.objects.filter(pk=account_id).first()
    if account is None or (stop is not None and stop.is_set()):
        release(items)
        return
    try:
        session = open_session(account)
    except AccountError as exc:
        account_failed(account, exc)
        release(items, wait_for=account)
        outcomes[Outcome.ACCOUNT_ERROR.value] += len(items)
        return
    try:
        contexts = read_contexts(items)  # read just before this account's sends: steps and leads
        for index, item in enumerate(items):
            if stop is not None and stop.is_set():
                release(items[index:])
                break
            context = contexts.get(item.message_id)
            if context is None:
                continue
            result = send_one(session, account, item, context)
            outcomes[result.outcome.value] += 1
            if result.outcome is Outcome.ACCOUNT_ERROR:
                # The account's fault: this message and the rest wait for the account.
                account_failed(account, result.account_error)
                release(items[index:], wait_for=account)
                outcomes[Outcome.ACCOUNT_ERROR.value] += len(items) - index - 1
                break
            if result.outcome is Outcome.SENT:
                account_sent(account)
            if result.ended:
                ended.add(item.campaign_id)
            if result.outcome is Outcome.BOUNCED:
                watched[item.campaign_id] = True
            if watched[item.campaign_id] and protect_from_bounces(item.campaign_id):
                watched[item.campaign_id] = False
    finally:
        session.close()


def _lanes(accounts: int) -> int:
    """How many accounts one worker sends for at once, each over its own SMTP and database
    connection: SEND_CONNECTIONS on PostgreSQL; one on SQLite, where a single writer at a time
    holds the database and the lanes would only queue on it."""
    if connection.vendor != "postgresql":
        return 1
    return max(1, min(settings.SEND_CONNECTIONS, accounts))


def deliver(claims: list[Claim], stop: threading.Event | None = None) -> dict[str, int]:
    """Send claimed messages, one connection per account, several accounts at once (lanes:
    while one mail server is slow the others go on); then complete the campaigns whose leads
    all ended. An error in a lane is raised once every lane has finished and been counted."""
    watched = watched_campaigns(claims)
    grouped = by_account(claims)
    work = deque(grouped.items())
    results: list[tuple[Counter, set[uuid.UUID]]] = []
    errors: list[BaseException] = []

    def lane(own_connection: bool) -> None:
        while True:
            try:
                account_id, items = work.popleft()
            except IndexError:
                break
            outcomes, ended = Counter(), set()
            results.append((outcomes, ended))
            try:
                _deliver_account(account_id, items, stop, watched, outcomes, ended)
            except Exception as exc:  # the other accounts go on; raised again below
                errors.append(exc)
        if own_connection:
            try:
                connections.close_all()  # this thread's connections only
            except Exception:
                logger.exception("send lane: closing its database connection failed")

    helpers = [
        threading.Thread(target=lane, args=(True,), name=f"send-lane-{n}", daemon=True)
        for n in range(1, _lanes(len(grouped)))
    ]
    for thread in helpers:
        thread.start()
    lane(own_connection=False)
    for thread in helpers:
        thread.join()
    outcomes: Counter = Counter()
    ended: set[uuid.UUID] = set()
    for counted, finished in results:
        outcomes.update(counted)
        ended |= finished
    for extra in errors[1:]:  # the first is raised below, for the caller (the worker) to log
        logger.error("send lane failed", exc_info=extra)
    try:
        for campaign_id in ended:
            complete_if_done(campaign_id)
    finally:
        if errors:
            raise errors[0]
    return dict(outcomes)


def watched_campaigns(claims: list[Claim]) -> dict[uuid.UUID, bool]:
    """Bounce protection reads the counters after each message only for the campaigns that
    already have a bounce (one counter read per campaign here)."""
    campaigns = {item.campaign_id for item in claims}
    return {c: bool(event_totals(c).get(Event.BOUNCED)) for c in campaigns}


def by_account(claims: list[Claim]) -> dict[uuid.UUID, list[Claim]]:
    grouped: dict[uuid.UUID, list[Claim]] = defaultdict(list)
    for item in claims:
        grouped[item.account_id].append(item)
    return grouped


class Lanes:
    """A worker's lanes: up to `size` accounts sent for at once, each by a thread of its own.
    The threads are kept between batches (and their database connections with them) and are
    daemons: one stuck on a server until its deadline cannot keep a stopping worker alive."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self.size, self.stop = size, stop
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._busy: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._changed = threading.Event()

    def busy(self) -> frozenset[uuid.UUID]:
        """The accounts a lane holds: claim nothing more for them."""
        with self._lock:
            return frozenset(self._busy)

    def free(self) -> int:
        with self._lock:
            return self.size - len(self._busy)

    def submit(self, claims: list[Claim]) -> None:
        """A lane for each account of `claims`; claims for more accounts than there are free
        lanes are handed back (due again at once) rather than queued behind a slow lane."""
        grouped = list(by_account(claims).items())
        free = self.free()
        for _, items in grouped[free:]:
            release(items)
        watched = watched_campaigns(claims)
        for account_id, items in grouped[:free]:
            with self._lock:
                self._busy.add(account_id)
                start = self._idle == 0 and len(self._threads) < self.size
                self._idle -= 0 if start else 1
            if start:
                thread = threading.Thread(
                    target=self._lane, name=f"send-lane-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._work.put((account_id, items, watched))

    def _lane(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                break
            self._send(*job)
            with self._lock:
                self._idle += 1
        try:
            connections.close_all()  # this thread's connections only
        except Exception:
            logger.exception("send lane: closing its database connection failed")

    def _send(self, account_id: uuid.UUID, items: list[Claim], watched: dict) -> None:
        close_old_connections()
        outcomes, ended = Counter(), set()
        try:
            _deliver_account(account_id, items, self.stop, watched, outcomes, ended)
        except Exception:  # the other lanes go on
            logger.exception("send lane failed for sender account %s", account_id)
        finally:
            try:
                for campaign_id in ended:
                    complete_if_done(campaign_id)
            except Exception:
                logger.exception("send lane: completing its campaigns failed")
            with self._lock:
                self._busy.discard(account_id)
            self._changed.set()

    def wait(self, timeout: float) -> None:
        """Sleep until a lane is free again, or `timeout` seconds."""
        self._changed.wait(timeout)
        self._changed.clear()

    def idle(self) -> bool:
        with self._lock:
            return not self._busy

    def shutdown(self, grace: float | None = None) -> None:
        """Let every lane finish its current message (the stop event is set), waiting at most
        `grace` seconds (SMTP_TIMEOUT_SECONDS) for all: a lane still held by a slow server is
        left behind; its message is recovered as at any crash (never sent twice)."""
        ends = time.monotonic() + (settings.SMTP_TIMEOUT_SECONDS if grace is None else grace)
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join(max(0.0, ends - time.monotonic()))


def lane_count() -> int:
    """SEND_CONNECTIONS lanes on PostgreSQL; one on SQLite (one writer at a time)."""
    return _lanes(settings.SEND_CONNECTIONS)
