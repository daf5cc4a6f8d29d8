"""The webhook actions (API.md §10): create, update, delete, rotate the secret, replay, test.
The API, the admin and commands all call these. Each writes its audit row with the change."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from audit.services import Action, Actor, record
from coldsend.core import clock
from coldsend.core.errors import Conflict, ErrorCode, Invalid
from coldsend.core.netcheck import HostRefused, allow_private_hosts, check_host
from events.models import Event
from events.services import record_event
from events.types import CAMPAIGN_TYPES
from webhooks.delivering import post_event, signer_for
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.signing import new_secret
from webhooks.transport import Connection
from workspaces.models import Workspace

TEST_SECONDS = 15.0
MAX_ROTATION_OVERLAP = 86_400


def url_problems(url: str) -> list[str]:
    """Why `url` cannot be an endpoint (empty when it can): https, or http where private hosts
    are allowed; no credentials; a host that resolves to public addresses only (unless private
    hosts are allowed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ["The URL is not valid."]
    private_ok = allow_private_hosts()
    if parts.scheme != "https" and not (parts.scheme == "http" and private_ok):
        return ["The URL must use https." if not private_ok else "The URL must use http or https."]
    if not parts.hostname:
        return ["The URL has no host."]
    if parts.username or parts.password:
        return ["The URL must not carry a username or password."]
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ["The URL's port is not valid."]
    try:
        check_host(parts.hostname, port)
    except HostRefused as exc:
        return [str(exc)]
    return []


def _check_types(types: list[str], campaign_id: uuid.UUID | None) -> None:
    if campaign_id is not None and "*" not in types:
        outside = sorted(t for t in types if t not in CAMPAIGN_TYPES)
        if outside:
            raise Invalid(
                {"event_types": [f"An endpoint of one campaign gets no {', '.join(outside)}."]}
            )


def do_create_webhook(
    workspace: Workspace, data: Mapping[str, Any], *, actor: Actor
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (shown this once). Conflict `limit_reached` past
    WEBHOOKS_PER_WORKSPACE."""
    secret = new_secret()
    now = clock.now()
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()  # one at a time
        count = WebhookEndpoint.objects.for_workspace(workspace).count()
        if count >= settings.WEBHOOKS_PER_WORKSPACE:
            raise Conflict(
                f"A workspace has at most {settings.WEBHOOKS_PER_WORKSPACE} webhook endpoints.",
                code=ErrorCode.LIMIT_REACHED,
                limit=settings.WEBHOOKS_PER_WORKSPACE,
            )
        _check_types(list(data.get("event_types", [])), data.get("campaign_id"))
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace,
            url=data["url"],
            event_types=list(data.get("event_types", [])),
            campaign_id=data.get("campaign_id"),
            description=data.get("description", ""),
            secret=secret,
            created_at=now,
            updated_at=now,
            enabled_since=now,
        )
        record(actor, Action.WEBHOOK_CREATED, endpoint, extra={"url": endpoint.url})
    return endpoint, secret


EDITABLE = ("url", "event_types", "campaign_id", "description", "enabled")


def do_update_webhook(
    endpoint: WebhookEndpoint, changes: Mapping[str, Any], *, actor: Actor
) -> WebhookEndpoint:
    """Change an endpoint's settings; `enabled: true` re-enables a disabled one (what it missed
    is not resent: replay does that), `enabled: false` disables it by hand (no reason)."""
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        changed = sorted(n for n in EDITABLE if n in changes and getattr(current, n) != changes[n])
        _check_types(
            list(changes.get("event_types", current.event_types)),
            changes.get("campaign_id", current.campaign_id),
        )
        for name in changed:
            setattr(current, name, changes[name])
        if "enabled" in changed:
            current.disabled_reason = None
            current.failing_since = None
            if current.enabled:
                current.enabled_since = clock.now()
            else:
                WebhookDelivery.objects.filter(
                    endpoint=current, status=WebhookDelivery.Status.PENDING
                ).update(status=WebhookDelivery.Status.FAILED, leased_until=None)
        if changed:
            current.updated_at = clock.now()
            current.save()
            record(actor, Action.WEBHOOK_UPDATED, current, extra={"fields": changed})
    return current


def do_delete_webhook(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    with transaction.atomic():
        pk = endpoint.pk
        record(actor, Action.WEBHOOK_DELETED, endpoint, extra={"url": endpoint.url})
        WebhookAttempt.objects.filter(endpoint_id=pk).delete()
        WebhookDelivery.objects.filter(endpoint_id=pk).delete()
        endpoint.delete()


def do_rotate_secret(
    endpoint: WebhookEndpoint, *, expire_previous_in_seconds: int, actor: Actor
) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown this once); until the previous one expires every delivery carries
    both signatures (0: the previous one stops at once)."""
    secret = new_secret()
    now = clock.now()
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        overlap = max(0, min(expire_previous_in_seconds, MAX_ROTATION_OVERLAP))
        current.previous_secret = current.secret if overlap else ""
        current.previous_expires_at = now + timedelta(seconds=overlap) if overlap else None
        current.secret = secret
        current.updated_at = now
        current.save()
        record(
            actor,
            Action.WEBHOOK_SECRET_ROTATED,
            current,
            extra={"expire_previous_in_seconds": overlap},
        )
    return current, secret


def do_replay(
    endpoint: WebhookEndpoint, *, since: datetime, until: datetime | None, actor: Actor
) -> int:
    """Queue every stored event from `since` to `until` (default now) that the endpoint
    subscribes to; how many. An event delivered before is delivered again (receivers dedupe on
    webhook-id)."""
    now = clock.now()
    until = until or now
    events = Event.objects.for_workspace(endpoint.workspace_id).filter(
        created_at__gte=since, created_at__lte=until
    )
    if "*" not in endpoint.event_types:
        events = events.filter(type__in=endpoint.event_types)
    if endpoint.campaign_id is not None:
        events = events.filter(campaign_id=endpoint.campaign_id)
    queued = 0
    with transaction.atomic():
        batch = []
        for pk, type, campaign in events.values_list("pk", "type", "campaign_id").iterator(2000):
            if endpoint.subscribes_to(type, campaign):
                batch.append(pk)
        for start in range(0, len(batch), 1000):
            ids = batch[start : start + 1000]
            existing = set(
                WebhookDelivery.objects.filter(endpoint=endpoint, event_id__in=ids).values_list(
                    "event_id", flat=True
                )
            )
            WebhookDelivery.objects.filter(endpoint=endpoint, event_id__in=existing).update(
                status=WebhookDelivery.Status.PENDING,
                attempts=0,
                next_attempt_at=now,
                leased_until=None,
            )
            WebhookDelivery.objects.bulk_create(
                (
                    WebhookDelivery(
                        endpoint=endpoint, event_id=pk, next_attempt_at=now, created_at=now
                    )
                    for pk in ids
                    if pk not in existing
                ),
                ignore_conflicts=True,  # the dispatcher may make one at the same moment
            )
        queued = len(batch)
        record(
            actor,
            Action.WEBHOOK_REPLAYED,
            endpoint,
            extra={"since": since.isoformat(), "until": until.isoformat(), "queued": queued},
        )
    transaction.on_commit(_hurry)
    return queued


def _hurry() -> None:
    from webhooks.dispatch import hurry

    hurry()


@dataclass(frozen=True)
class TestResult:
    status_code: int | None
    error: str | None
    duration_ms: int


def do_test_webhook(endpoint: WebhookEndpoint, *, actor: Actor) -> TestResult:
    """A `webhook.test` event POSTed to this endpoint alone, now, never retried (whether the
    endpoint is enabled or not), within TEST_SECONDS; its attempt is logged like any other."""
    endpoint = WebhookEndpoint.objects.select_related("workspace").get(pk=endpoint.pk)
    with transaction.atomic():
        event = record_event(endpoint.workspace_id, "webhook.test", {"webhook_id": endpoint.pk})
        Event.objects.filter(pk=event.pk).update(dispatched=True)  # to this endpoint alone
    event.refresh_from_db()
    conn = Connection(endpoint.url, min(settings.WEBHOOK_TIMEOUT_SECONDS, TEST_SECONDS))
    try:
        answer, at = post_event(
            conn, signer_for(endpoint, clock.now()), event, endpoint.workspace.slug
        )
    finally:
        conn.close()
    WebhookAttempt.objects.create(
        endpoint=endpoint,
        event_id=event.pk,
        event_type=event.type,
        attempt=1,
        status_code=answer.status_code,
        error=answer.error,
        response_body=answer.body,
        duration_ms=answer.duration_ms,
        attempted_at=at,
    )
    record(
        actor,
        Action.WEBHOOK_TESTED,
        endpoint,
        extra={"status_code": answer.status_code, "error": answer.error},
    )
    return TestResult(answer.status_code, answer.error, answer.duration_ms)
