"""The lead state machine, in one place (API.md §6, §7, §8).

`FOLLOWS` is the whole rule set as data: which status may follow which. Every write of a lead's
status goes through `move` (set-based: a conditional UPDATE that only touches the leads whose
current status allows the move), or through SQL built from these tables (`after_send_sql`), so
a lead can never take a status the table does not allow, whichever door changed it.

Which statuses continue a sequence is here too (`continuing`): the engine, the inbox reader
and the scheduler all ask this one function."""

from typing import Any

from django.db.models import QuerySet

from leads.models import Lead

Status = Lead.Status
PENDING, CONTACTED, REPLIED = Status.PENDING, Status.CONTACTED, Status.REPLIED
BOUNCED, UNSUBSCRIBED = Status.BOUNCED, Status.UNSUBSCRIBED
COMPLETED, FAILED = Status.COMPLETED, Status.FAILED

# status -> the statuses a lead in it may take next (staying where it is is always allowed).
FOLLOWS: dict[str, frozenset[str]] = {
    # Never contacted: the first send, a suppressed address, a failure, or an answer to an
    # earlier campaign's thread.
    PENDING: frozenset({CONTACTED, COMPLETED, REPLIED, BOUNCED, UNSUBSCRIBED, FAILED}),
    CONTACTED: frozenset({COMPLETED, REPLIED, BOUNCED, UNSUBSCRIBED, FAILED}),
    # A reply keeps its status through later sends (without stop_on_reply) and bounces.
    REPLIED: frozenset({BOUNCED, UNSUBSCRIBED, FAILED}),
    # Answers may come after the last step.
    COMPLETED: frozenset({REPLIED, BOUNCED, UNSUBSCRIBED}),
    # A bounce reported later may still be followed by an unsubscribe, never by more sends.
    BOUNCED: frozenset({UNSUBSCRIBED}),
    FAILED: frozenset({BOUNCED, UNSUBSCRIBED}),
    UNSUBSCRIBED: frozenset(),
}

# A send of a step: (status before, was it the last step) -> status after; absent: unchanged.
AFTER_SEND: dict[tuple[str, bool], str] = {
    (PENDING, False): CONTACTED,
    (PENDING, True): COMPLETED,
    (CONTACTED, True): COMPLETED,
}

# Only a lead never contacted may be deleted (API.md §6).
DELETABLE: tuple[str, ...] = (PENDING,)


def sources(to: str) -> frozenset[str]:
    """The statuses from which a lead may take status `to` (including `to` itself)."""
    return frozenset({to} | {status for status, nexts in FOLLOWS.items() if to in nexts})


def may_follow(current: str, to: str) -> bool:
    return current == to or to in FOLLOWS[current]


def continuing(*, stop_on_reply: bool) -> list[str]:
    """Lead statuses whose sequence goes on (a reply stops it only with stop_on_reply)."""
    statuses = [PENDING, CONTACTED]
    if not stop_on_reply:
        statuses.append(REPLIED)
    return statuses


def after_send(current: str, *, last: bool) -> str:
    """The status after a step was sent to a lead in `current`: the first send makes it
    CONTACTED, the last one COMPLETED; any other status stays."""
    return AFTER_SEND.get((current, last), current)


def after_send_sql(column: str, *, last: bool) -> tuple[str, list[str]]:
    """`after_send` as a SQL CASE over `column`, built from AFTER_SEND, with its parameters
    (for the engine's one-round-trip record)."""
    pairs = [
        (before, after) for (before, was_last), after in AFTER_SEND.items() if was_last == last
    ]
    whens = " ".join(f"WHEN {column} = %s THEN %s" for _ in pairs)
    return f"CASE {whens} ELSE {column} END", [value for pair in pairs for value in pair]


def move(leads: QuerySet[Lead], to: str, **fields: Any) -> int:
    """Set status `to` (and `fields`) on those of `leads` whose status allows it; returns how
    many changed. One UPDATE: racing writers each see the status the other left."""
    return leads.filter(status__in=sources(to)).update(status=to, **fields)
