"""`record_event`: the one way an event is written, inside the transaction of the change it
reports (API.md §10), so an event exists exactly when its change does. After the commit the
webhooks' dispatcher is hurried (`on_recorded`); its periodic sweep finds whatever a lost nudge
left, so nothing depends on the nudge."""

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from coldsend.core import clock
from coldsend.core.ids import uuid7
from events.models import Event
from events.types import EVENT_TYPES

logger = logging.getLogger("events")

# Called after a commit that wrote events (the webhooks app registers its dispatcher's wake-up).
on_recorded: list[Callable[[], None]] = []


def nudge() -> None:
    for hurry in on_recorded:
        try:
            hurry()
        except Exception:  # a nudge is a hint: the sweep delivers without it
            logger.exception("events: hurrying the dispatcher failed")


class NewEvent(NamedTuple):
    workspace_id: uuid.UUID
    type: str
    data: dict[str, Any]
    campaign_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None


def _row(new: NewEvent, at: datetime) -> Event:
    if new.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {new.type!r}")
    return Event(
        id=uuid7(),
        workspace_id=new.workspace_id,
        type=new.type,
        created_at=at,
        campaign_id=new.campaign_id,
        lead_id=new.lead_id,
        data=new.data,
    )


def record_event(
    workspace_id: uuid.UUID,
    type: str,
    data: Mapping[str, Any],
    *,
    campaign_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
) -> Event:
    """Write one event in the current transaction; call it inside the change's own."""
    event = _row(NewEvent(workspace_id, type, dict(data), campaign_id, lead_id), clock.now())
    event.save(force_insert=True)
    transaction.on_commit(nudge)
    return event


def record_events(events: Iterable[NewEvent]) -> int:
    """Several events in one INSERT (a batch of opens); how many were written."""
    now = clock.now()
    rows = [_row(new, now) for new in events]
    if rows:
        Event.objects.bulk_create(rows)
        transaction.on_commit(nudge)
    return len(rows)


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def insert_sql(source: str, where: str = "") -> str:
    """PostgreSQL: an INSERT of one event for each row of `source` (e.g. a CTE that returns the
    lead when it still exists), for the engine's one-round-trip record. Parameters:
    insert_params."""
    return (
        f"INSERT INTO {Event._meta.db_table} (id, workspace_id, type, created_at, campaign_id,"  # noqa: S608
        f" lead_id, data, dispatched) SELECT %s, %s, %s, %s, %s, %s, %s::jsonb, false"
        f" FROM {source}{f' WHERE {where}' if where else ''}"
    )


def insert_params(new: NewEvent, at: datetime) -> list:
    if new.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {new.type!r}")
    return [uuid7(), new.workspace_id, new.type, at, new.campaign_id, new.lead_id, dumps(new.data)]


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# The parts of `data` (API.md §10), from any object with the named attributes.


def campaign_data(campaign: Any) -> dict[str, Any]:
    """C: campaign_id, campaign_name, status."""
    return {"campaign_id": campaign.pk, "campaign_name": campaign.name, "status": campaign.status}


def lead_data(campaign: Any, lead_id: uuid.UUID, lead_email: str) -> dict[str, Any]:
    """L: C + lead_id, lead_email."""
    return {**campaign_data(campaign), "lead_id": lead_id, "lead_email": lead_email}


def message_data(
    campaign: Any,
    lead_id: uuid.UUID,
    lead_email: str,
    *,
    sender_account_id: uuid.UUID | None,
    step: int | None,
    message: uuid.UUID,
    message_id: str,
    kind: str = "STEP",
) -> dict[str, Any]:
    """M: L + sender_account_id, step (None for an answer), message (the item id of GET
    leads/{id}/messages), message_id (the header, with its angle brackets), message_kind."""
    return {
        **lead_data(campaign, lead_id, lead_email),
        "sender_account_id": sender_account_id,
        "step": step,
        "message": message,
        "message_id": message_id,
        "message_kind": kind,
    }


def envelope(event: Event, workspace_slug: str) -> dict[str, Any]:
    """The event as the API and webhooks show it."""
    created = event.created_at.isoformat().replace("+00:00", "Z")
    return {
        "id": str(event.pk),
        "type": event.type,
        "created_at": created,
        "workspace": workspace_slug,
        "data": event.data,
    }
