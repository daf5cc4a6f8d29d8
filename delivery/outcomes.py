"""What became of one claimed message. `deliver` counts them by value: the message statuses
(SENT, BOUNCED, RETRY, FAILED) and the ways a message is not sent (released … account_error)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SENT = "SENT"
    BOUNCED = "BOUNCED"
    RETRY = "RETRY"
    FAILED = "FAILED"
    RELEASED = "released"  # its step was removed from the sequence: handed back
    PAUSED = "paused"  # the campaign is not ACTIVE at the gate: handed back
    LOST = "lost"  # handed back after the lease: another worker's now
    GONE = "gone"  # the lead was deleted while its message was on the wire
    ACCOUNT_ERROR = "account_error"  # the account phase failed (connect … MAIL FROM): handed back


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    ended: bool = False  # the lead's sequence ended: its campaign may be complete
    account_error: Any = None  # ACCOUNT_ERROR: the transport's AccountError
