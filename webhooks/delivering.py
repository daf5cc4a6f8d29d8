"""Delivering one endpoint's due deliveries (API.md §10): leased like due sends, POSTed over
one keep-alive connection, signed per attempt, and recorded a batch at a time. One endpoint's
trouble stays its own: a task works for one endpoint only, for at most WEBHOOK_TASK_SECONDS,
and an endpoint that does not answer at all is probed by one delivery at a time (the rest of
its batch waits for that delivery's retry) instead of holding a worker for each."""

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from coldsend.core import clock
from events.models import Event
from events.services import dumps, envelope, record_event
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.signing import Signer
from webhooks.transport import Answer, Connection

logger = logging.getLogger("webhooks")

Status = WebhookDelivery.Status
BATCH = 500
GONE = 410


def lease() -> timedelta:
    """How long a claim (and an endpoint's hurry) holds: never shorter than a task can run (its
    budget, then one more attempt's deadline), so no second task takes what one still sends."""
    longest = settings.WEBHOOK_TASK_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS + 5
    return timedelta(seconds=max(settings.WEBHOOK_LEASE_SECONDS, longest))


def due(now: datetime) -> Q:
    """Deliveries due now that no live worker holds."""
    return Q(status=Status.PENDING, next_attempt_at__lte=now) & (
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    )


def claim(endpoint: WebhookEndpoint, limit: int) -> list[tuple[int, uuid.UUID, int]]:
    """Lease up to `limit` due deliveries of the endpoint: (pk, event id, attempts so far)."""
    now = clock.now()
    with transaction.atomic():
        rows = WebhookDelivery.objects.filter(due(now), endpoint=endpoint).order_by(
            "next_attempt_at", "id"
        )
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
        taken = list(rows.values_list("pk", "event_id", "attempts")[:limit])
        if taken:
            WebhookDelivery.objects.filter(pk__in=[pk for pk, _, _ in taken]).update(
                leased_until=now + lease()
            )
    return taken


def signer_for(endpoint: WebhookEndpoint, now: datetime) -> Signer:
    """The current secret, and the previous one until it expires (API.md §10: both signatures)."""
    previous = ""
    if (
        endpoint.previous_secret
        and endpoint.previous_expires_at
        and endpoint.previous_expires_at > now
    ):
        previous = endpoint.previous_secret
    return Signer(endpoint.secret, previous)


def retry_delay(attempts: int, answer: Answer) -> float | None:
    """Seconds until the next try after `attempts` failed tries; None once they ran out."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 (jitter)
    if answer.status_code in (429, 503) and answer.retry_after is not None:
        delay = max(delay, answer.retry_after)
    return delay


@dataclass
class _Tried:
    pk: int
    event: Event
    attempt: int
    answer: Answer
    at: datetime


def post_event(
    conn: Connection, signer: Signer, event: Event, slug: str, message_id: str | None = None
) -> tuple[Answer, datetime]:
    """Sign and POST one event; its body is the event exactly as signed."""
    body = dumps(envelope(event, slug))
    at = clock.now()
    headers = signer.headers(message_id or str(event.pk), int(at.timestamp()), body)
    return conn.post(body.encode("utf-8"), headers), at


def deliver_endpoint(endpoint_id: uuid.UUID, budget: float | None = None) -> int:
    """Deliver the endpoint's due deliveries until none is left or the budget is spent; how
    many succeeded. The endpoint may be hurried again afterwards."""
    budget = settings.WEBHOOK_TASK_SECONDS if budget is None else budget
    started = time.monotonic()
    succeeded = 0
    try:
        endpoint = (
            WebhookEndpoint.objects.select_related("workspace")
            .filter(pk=endpoint_id, enabled=True)
            .first()
        )
        if endpoint is None:
            return 0
        conn = Connection(endpoint.url, settings.WEBHOOK_TIMEOUT_SECONDS)
        try:
            while True:  # one batch at least, then while the budget lasts
                # Read again each batch: a new URL, secret or disabling applies from the next.
                endpoint = _current(endpoint)
                if endpoint is None:
                    break
                if endpoint.url != conn.url:
                    conn.close()
                    conn = Connection(endpoint.url, settings.WEBHOOK_TIMEOUT_SECONDS)
                taken = claim(endpoint, BATCH)
                if not taken:
                    break
                done, more = _deliver_batch(endpoint, conn, taken, started, budget)
                succeeded += done
                if not more:
                    break
        finally:
            conn.close()
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(hurried_until=None)
    return succeeded


def _current(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
    return (
        WebhookEndpoint.objects.select_related("workspace")
        .filter(pk=endpoint.pk, enabled=True)
        .first()
    )


def _deliver_batch(
    endpoint: WebhookEndpoint,
    conn: Connection,
    taken: list[tuple[int, uuid.UUID, int]],
    started: float,
    budget: float,
) -> tuple[int, bool]:
    """POST a leased batch, then record it; (successes, whether to go on)."""
    events = Event.objects.in_bulk([event_id for _, event_id, _ in taken])
    signer = signer_for(endpoint, clock.now())
    slug = endpoint.workspace.slug
    tried: list[_Tried] = []
    stop_reason = None
    for pk, event_id, attempts in taken:
        event = events.get(event_id)
        if event is None:  # pruned meanwhile
            continue
        answer, at = post_event(conn, signer, event, slug)
        tried.append(_Tried(pk, event, attempts + 1, answer, at))
        if answer.status_code == GONE:
            stop_reason = WebhookEndpoint.DisabledReason.GONE
            break
        if answer.cut_off:
            stop_reason = "cut_off"
            break
        if time.monotonic() - started >= budget:
            break
    untried = [pk for pk, _, _ in taken[len(tried) :]] if tried else []
    _record(
        endpoint,
        tried,
        untried,
        gone=stop_reason == WebhookEndpoint.DisabledReason.GONE,
        cut_off=stop_reason == "cut_off",
    )
    succeeded = sum(1 for t in tried if t.answer.ok)
    return succeeded, stop_reason is None and time.monotonic() - started < budget


def _record(
    endpoint: WebhookEndpoint,
    tried: list[_Tried],
    untried: list[int],
    *,
    gone: bool,
    cut_off: bool,
) -> None:
    """One transaction: the attempts' log rows, each delivery's next state, the endpoint's
    health (and its disabling: at once on 410, after WEBHOOK_FAILING_DAYS without success)."""
    now = clock.now()
    delivered, failed = [], defaultdict(list)
    log, resume_at = [], now
    for t in tried:
        next_at = None
        if t.answer.ok:
            delivered.append(t.pk)
        else:
            delay = retry_delay(t.attempt, t.answer)
            next_at = None if delay is None else now + timedelta(seconds=delay)
            failed[(t.attempt, next_at)].append(t.pk)
            resume_at = max(resume_at, next_at or now)
        log.append(
            WebhookAttempt(
                endpoint_id=endpoint.pk,
                event_id=t.event.pk,
                event_type=t.event.type,
                attempt=t.attempt,
                status_code=t.answer.status_code,
                error=t.answer.error,
                response_body=t.answer.body,
                duration_ms=t.answer.duration_ms,
                attempted_at=t.at,
                next_attempt_at=next_at,
            )
        )
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(log)
        rows = WebhookDelivery.objects.filter(endpoint_id=endpoint.pk)
        if delivered:
            _mark_delivered(tried, delivered)
        for (attempt, next_at), pks in failed.items():
            rows.filter(pk__in=pks).update(
                attempts=attempt,
                next_attempt_at=next_at,
                status=Status.PENDING if next_at else Status.FAILED,
                leased_until=None,
            )
        if untried:  # not tried: after an endpoint that did not answer, with its retry
            resume = resume_at if cut_off else now
            rows.filter(pk__in=untried).update(next_attempt_at=resume, leased_until=None)
        _note_health(endpoint, tried, now, gone=gone)


def _mark_delivered(tried: list[_Tried], pks: list[int]) -> None:
    by_attempt = defaultdict(list)
    wanted = set(pks)
    for t in tried:
        if t.pk in wanted:
            by_attempt[t.attempt].append(t.pk)
    for attempt, ids in by_attempt.items():
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=Status.DELIVERED, attempts=attempt, next_attempt_at=None, leased_until=None
        )


def _note_health(
    endpoint: WebhookEndpoint, tried: list[_Tried], now: datetime, *, gone: bool
) -> None:
    if gone:
        disable(endpoint, WebhookEndpoint.DisabledReason.GONE)
        return
    if not tried:
        return
    rows = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if any(t.answer.ok for t in tried):
        rows.update(last_success_at=now, failing_since=None)
        endpoint.last_success_at, endpoint.failing_since = now, None
        return
    since = endpoint.failing_since
    if since is None:
        rows.filter(failing_since__isnull=True).update(failing_since=now)
        endpoint.failing_since = now
        return
    if now - since >= timedelta(days=settings.WEBHOOK_FAILING_DAYS):
        disable(endpoint, WebhookEndpoint.DisabledReason.FAILING)


def disable(endpoint: WebhookEndpoint, reason: str) -> bool:
    """Disable an enabled endpoint (inside the caller's transaction or its own): what it had
    pending is dropped (re-enabling does not resend it: replay does), and a `webhook.disabled`
    event reaches the workspace's other endpoints and GET events. False if it was disabled
    already."""
    with transaction.atomic():
        if not WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_reason=reason, hurried_until=None, updated_at=clock.now()
        ):
            return False
        WebhookDelivery.objects.filter(endpoint_id=endpoint.pk, status=Status.PENDING).update(
            status=Status.FAILED, leased_until=None, next_attempt_at=None
        )
        record_event(
            endpoint.workspace_id,
            "webhook.disabled",
            {"webhook_id": endpoint.pk, "url": endpoint.url, "disabled_reason": reason},
        )
    endpoint.enabled, endpoint.disabled_reason = False, reason
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)
    return True
