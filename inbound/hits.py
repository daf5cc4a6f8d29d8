"""Opens off the request path: the pixel only verifies its token and notes the open here;
each process writes what it noted every TRACKING_FLUSH_SECONDS (or sooner, once FLUSH_BATCH
are waiting), in one statement (inbound.events.insert_opens), which also merges repeats of a
message within 10 seconds. So a burst of opens costs one INSERT per batch instead of one
database round trip per request. TRACKING_FLUSH_SECONDS = 0 writes each open at once, in its
request (the tests do; so can a deployment that prefers it).

Opens noted but not yet written are lost if the process is killed (a clean exit writes them):
an open is a hint, not a ledger."""

import atexit
import logging
import os
import threading
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections

from inbound.events import insert_opens

logger = logging.getLogger("inbound")

REPEAT_WINDOW = timedelta(seconds=10)
FLUSH_BATCH = 500

_lock = threading.Lock()
_pending: list[tuple[uuid.UUID, datetime]] = []
_wake = threading.Event()
_owner = {"pid": None}


def collapse(opens: list[tuple[uuid.UUID, datetime]]) -> list[tuple[uuid.UUID, datetime]]:
    """Within one batch, repeats of a message less than 10 seconds after the open kept last."""
    kept, last = [], {}
    for message_pk, at in sorted(opens, key=lambda item: item[1]):
        if message_pk in last and at - last[message_pk] < REPEAT_WINDOW:
            continue
        last[message_pk] = at
        kept.append((message_pk, at))
    return kept


def note_open(message_pk: uuid.UUID, at: datetime) -> None:
    if settings.TRACKING_FLUSH_SECONDS <= 0:
        insert_opens([(message_pk, at)], REPEAT_WINDOW)
        return
    with _lock:
        if _owner["pid"] != os.getpid():  # first open in this process (or after a fork)
            _owner["pid"] = os.getpid()
            _pending.clear()
            threading.Thread(target=_flush_forever, name="tracking-flush", daemon=True).start()
        _pending.append((message_pk, at))
        if len(_pending) >= FLUSH_BATCH:
            _wake.set()


def flush() -> int:
    """Write the opens noted in this process; how many were waiting."""
    with _lock:
        batch = list(_pending)
        _pending.clear()
    if batch:
        insert_opens(collapse(batch), REPEAT_WINDOW)
    return len(batch)


def _flush_forever() -> None:
    while True:
        _wake.wait(settings.TRACKING_FLUSH_SECONDS)
        _wake.clear()
        try:
            close_old_connections()
            flush()
        except Exception:  # the next round tries again with what comes next
            logger.exception("writing tracked opens failed")


atexit.register(flush)
