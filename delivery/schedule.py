"""When a lead is due: a campaign's sending window (its days, from start_time inclusive to
end_time exclusive, in its IANA time zone, DST-correct: a skipped local time means the first
valid instant after it, a repeated one its first occurrence) and the one next_send_at rule
(first send, next step, retry)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `day at` in `zone`; when that wall time does not exist,
    the first instant after the gap (the transition itself)."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # Skipped: the transition lies between the fold=1 reading (before it) and fold=0 (after).
    lo = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True)
class Window:
    zone: ZoneInfo
    days: frozenset[int]  # ISO weekdays, Monday = 1
    start: time
    end: time

    @classmethod
    def of(cls, schedule: dict) -> "Window":
        return cls(
            zone=ZoneInfo(schedule.get("timezone") or "UTC"),
            days=frozenset(schedule.get("days") or range(1, 8)),
            start=time.fromisoformat(schedule.get("start_time") or "00:00"),
            end=time.fromisoformat(schedule.get("end_time") or "23:59"),
        )

    def is_open(self, instant: datetime) -> bool:
        return self.next_open(instant) == instant

    def _span(self, day: date) -> tuple[datetime, datetime]:
        return local_instant(day, self.start, self.zone), local_instant(day, self.end, self.zone)

    def next_open(self, instant: datetime) -> datetime:
        """`instant` if the window is open then, else the start of the next window."""
        today = instant.astimezone(self.zone).date()
        for offset in range(-1, 9):
            day = today + timedelta(days=offset)
            if day.isoweekday() not in self.days:
                continue
            start, end = self._span(day)
            if instant < end and start < end:
                return max(start, instant)
        raise ValueError("the schedule has no open window")

    def closed_spans(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """The spans [a, b) between `since` and `until` when the window is closed, b being the
        next opening."""
        spans, cursor = [], since
        while cursor < until:
            opening = self.next_open(cursor)
            if opening > cursor:
                spans.append((cursor, opening))
            day = opening.astimezone(self.zone).date()
            cursor = self._span(day)[1]
            if cursor <= opening:  # cannot happen with start < end; guards the loop
                break
        return spans


# The one next_send_at rule. Every due time the engine and the scheduler write comes from here
# (the set-based rescheduling applies the same rule as UPDATEs: rescheduling.py).


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th try a temporary failure is tried again: the base, then
    doubling each time (SEND_RETRY_BACKOFF_SECONDS, then twice that, four times …)."""
    return timedelta(seconds=settings.SEND_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


def first_send_at(window: Window, now: datetime) -> datetime:
    """A lead's first step: as soon as the window is open."""
    return window.next_open(now)


def next_step_at(
    window: Window, *, sent_at: datetime, delay_days: int, account_free_at: datetime | None
) -> datetime:
    """The step after one sent at `sent_at`: its delay later, not before the account's next
    free instant, in the window."""
    when = sent_at + timedelta(days=delay_days)
    if account_free_at is not None:
        when = max(when, account_free_at)
    return window.next_open(when)


def retry_at(window: Window, now: datetime, attempts: int) -> datetime:
    """A step that failed for the `attempts`-th time, temporarily: after the backoff."""
    return window.next_open(now + retry_delay(attempts))
