"""Time-ordered UUIDs (RFC 9562 version 7), so that ordering by id is creation order.

Lists paginate by id with a cursor: unique, and new rows always sort first, so pages stay
stable under concurrent inserts and a bulk import does not create a run of ties."""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int())


def uuid7_text() -> str:
    """A uuid7() as its canonical text, without building a UUID object (bulk loads)."""
    digits = f"{_uuid7_int():032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _uuid7_int() -> int:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:  # same (or an earlier) millisecond: count up so ids stay monotonic in this process
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
