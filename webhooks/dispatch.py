"""The outbox's dispatcher: events not yet dispatched become one delivery row per
subscribed endpoint; endpoints with deliveries due get one delivery task each on the
`webhooks` queue (a task only hurries: the sweep finds again whatever a lost task or a killed
worker left, once its lease has passed); events and deliveries older than
EVENTS_RETENTION_DAYS are pruned in batches. `run_worker` runs `sweep_forever` in a thread of
its own, woken at once when this process records an event (`hurry`)."""

import logging
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef, Q

from coldsend.core import clock
from events.models import Event
from webhooks.delivering import due, lease
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("webhooks")

FAN_OUT_BATCH = 1000
PRUNE_BATCH = 1000
PRUNE_EVERY_SECONDS = 600.0

_wake = threading.Event()


def hurry() -> None:
    """Wake this process's dispatcher (after a commit that recorded events)."""
    _wake.set()


def fan_out(limit: int = FAN_OUT_BATCH) -> int:
    """Make the deliveries of up to `limit` undispatched events; how many events were taken."""
    now = clock.now()
    with transaction.atomic():
        rows = Event.objects.filter(dispatched=False).order_by("id")
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
        events = list(
            rows.values_list("pk", "workspace_id", "type", "campaign_id", "created_at")[:limit]
        )
        if not events:
            return 0
        endpoints = defaultdict(list)
        subscribed = WebhookEndpoint.objects.filter(
            enabled=True, workspace_id__in={event[1] for event in events}
        ).only("pk", "workspace_id", "event_types", "campaign_id", "enabled_since")
        if connection.vendor == "postgresql":
            # A disable waits for these deliveries to exist, and then drops them with the rest.
            subscribed = subscribed.select_for_update(no_key=True)
        for endpoint in subscribed:
            endpoints[endpoint.workspace_id].append(endpoint)
        deliveries = [
            WebhookDelivery(endpoint=endpoint, event_id=pk, next_attempt_at=now, created_at=now)
            for pk, workspace, type, campaign, created in events
            for endpoint in endpoints[workspace]
            if endpoint.subscribes_to(type, campaign)
            and (endpoint.enabled_since is None or created >= endpoint.enabled_since)
        ]
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Event.objects.filter(pk__in=[event[0] for event in events]).update(dispatched=True)
    return len(events)


def hurry_due(now: datetime | None = None) -> int:
    """Queue one delivery task per enabled endpoint with deliveries due and none queued or
    running (an endpoint is hurried by one worker at a time); how many were queued."""
    from webhooks.tasks import enqueue_delivery

    now = now or clock.now()
    not_hurried = Q(hurried_until__isnull=True) | Q(hurried_until__lt=now)
    has_due = WebhookDelivery.objects.filter(due(now), endpoint_id=OuterRef("pk"))
    queued = 0
    # A workspace's endpoints hold at most WEBHOOK_TASKS_PER_WORKSPACE delivery workers at once:
    # its slow endpoints cost its own deliveries, never another workspace's.
    busy = Counter(
        WebhookEndpoint.objects.filter(hurried_until__gte=now).values_list(
            "workspace_id", flat=True
        )
    )
    waiting = WebhookEndpoint.objects.filter(not_hurried, Exists(has_due), enabled=True)
    for pk, workspace in waiting.values_list("pk", "workspace_id"):
        if busy[workspace] >= settings.WEBHOOK_TASKS_PER_WORKSPACE:
            continue
        mine = WebhookEndpoint.objects.filter(not_hurried, pk=pk)
        if not mine.update(hurried_until=now + lease()):
            continue  # another dispatcher took it
        try:
            enqueue_delivery(pk)
        except Exception:  # the queue's Redis down: the next sweep tries again
            logger.exception("webhooks: queueing the delivery of endpoint %s failed", pk)
            WebhookEndpoint.objects.filter(pk=pk).update(hurried_until=None)
            continue
        # Still held unless the task already ran (a backend that runs tasks at once).
        busy[workspace] += WebhookEndpoint.objects.filter(
            pk=pk, hurried_until__isnull=False
        ).count()
        queued += 1
    return queued


def prune(now: datetime | None = None) -> int:
    """Delete events, deliveries and attempts older than EVENTS_RETENTION_DAYS, a batch at a
    time; how many events went."""
    cutoff = (now or clock.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    gone = 0
    while True:
        old = WebhookAttempt.objects.filter(attempted_at__lt=cutoff).values_list("pk", flat=True)
        ids = list(old[:PRUNE_BATCH])
        if not ids:
            break
        WebhookAttempt.objects.filter(pk__in=ids).delete()
    while True:
        ids = list(
            Event.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            return gone
        with transaction.atomic():
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(pk__in=ids).delete()
        gone += len(ids)


def sweep(now: datetime | None = None) -> int:
    """One round: fan out what was recorded, hurry what is due; how many tasks were queued."""
    while fan_out() == FAN_OUT_BATCH:
        pass
    return hurry_due(now)


def sweep_forever(stop: threading.Event) -> None:
    """The dispatcher of one worker process, until `stop` is set."""
    pruned_at = 0.0
    while not stop.is_set():
        _wake.clear()
        try:
            close_old_connections()
            sweep()
            if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                prune()
        except Exception:  # a database outage or a bug must not end the dispatcher
            logger.exception("webhooks: dispatching failed; trying again")
        _wake.wait(settings.WEBHOOK_SWEEP_SECONDS)
