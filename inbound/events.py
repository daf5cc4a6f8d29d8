"""The event writes the trackers and the inbox reader make (EmailEvent lives in the engagement
app; its table keeps its campaigns_* name, which the SQL here reads from _meta)."""

import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from campaigns.models import Campaign, CampaignStep
from delivery.models import Message
from delivery.records import message_events
from engagement.models import EmailEvent
from events.services import record_events

Event = EmailEvent.Type


def step_id_of(campaign_id: object, position: object) -> Subquery:
    """The CampaignStep row of a message's step position, as a subquery."""
    return Subquery(
        CampaignStep.objects.filter(campaign_id=campaign_id, position=position).values("pk")[:1]
    )


def message_step_id() -> Subquery:
    """For a queryset of delivery Messages: the id of their CampaignStep."""
    return step_id_of(OuterRef("campaign_id"), OuterRef("step"))


# One statement: the event of an open or a click, only for a sent message of a campaign whose
# tracking switch is on. Table names come from the models, so moving them keeps this right.
HIT = """
INSERT INTO {event} (campaign_id, lead_id, sender_account_id, step_id, type, occurred_at)
SELECT m.campaign_id, m.lead_id, m.sender_account_id, s.id, %s, %s
FROM {message} m
JOIN {campaign} c ON c.id = m.campaign_id
LEFT JOIN {step} s ON s.campaign_id = m.campaign_id AND s.position = m.step
WHERE m.id = %s AND m.sent_at IS NOT NULL AND {switch_on}
"""
SWITCH_ON = {
    "postgresql": "COALESCE((c.tracking ->> %s)::boolean, false)",
    "sqlite": "COALESCE(json_extract(c.tracking, '$.' || %s), 0) = 1",
}


def insert_hit(message_pk: uuid.UUID, type: str, switch: str, at: datetime) -> None:
    """One round trip. On PostgreSQL the event may be lost in a crash (synchronous_commit off
    for this transaction only): the commit does not wait for the disk, so the counter rows the
    event's triggers update are locked for microseconds, not for a flush."""
    sql = HIT.format(
        event=EmailEvent._meta.db_table,
        message=Message._meta.db_table,
        campaign=Campaign._meta.db_table,
        step=CampaignStep._meta.db_table,
        switch_on=SWITCH_ON[connection.vendor],
    )
    on_postgresql = connection.vendor == "postgresql"
    at_value = connection.ops.adapt_datetimefield_value(at)
    params = [type, at_value, message_pk if on_postgresql else message_pk.hex, switch]
    with connection.cursor() as cursor:
        if not on_postgresql or not connection.get_autocommit():
            cursor.execute(sql, params)
            return
        try:
            cursor.execute(
                f"BEGIN; SET LOCAL synchronous_commit TO OFF; {sql.strip()}; COMMIT", params
            )
        except Exception:
            cursor.execute("ROLLBACK")
            raise


# Opens, many in one statement: each for a sent message of a campaign tracking opens, unless
# that message already has an OPENED event within 10 seconds of it (the repeat window).
OPENS = """
WITH v (message_id, at, low, high) AS (VALUES {rows})
INSERT INTO {event} (campaign_id, lead_id, sender_account_id, step_id, type, occurred_at)
SELECT m.campaign_id, m.lead_id, m.sender_account_id, s.id, 'OPENED', v.at
FROM v
JOIN {message} m ON m.id = v.message_id
JOIN {campaign} c ON c.id = m.campaign_id
LEFT JOIN {step} s ON s.campaign_id = m.campaign_id AND s.position = m.step
WHERE m.sent_at IS NOT NULL AND {opens_on} AND NOT EXISTS (
    SELECT 1 FROM {event} e
    WHERE e.lead_id = m.lead_id AND e.type = 'OPENED' AND e.step_id IS NOT DISTINCT FROM s.id
      AND e.occurred_at > v.low AND e.occurred_at < v.high
)
RETURNING lead_id, step_id
"""
ROW = {
    "postgresql": "(%s::uuid, %s::timestamptz, %s::timestamptz, %s::timestamptz)",
    "sqlite": "(%s, %s, %s, %s)",
}
OPENS_ON = {
    "postgresql": "COALESCE((c.tracking ->> 'opens')::boolean, false)",
    "sqlite": "COALESCE(json_extract(c.tracking, '$.opens'), 0) = 1",
}
# Flushes racing for one message wait for each other (PostgreSQL; SQLite has one writer).
LOCK_MESSAGES = (
    "SELECT pg_advisory_xact_lock(hashtextextended(id, 0))"
    " FROM unnest(%s::text[]) AS id ORDER BY id"
)


def insert_opens(opens: list[tuple[uuid.UUID, datetime]], window: timedelta) -> None:
    """Record `opens` (message id, when): one transaction, one INSERT. On PostgreSQL the
    transaction does not wait for the disk (synchronous_commit off for it alone): an open may
    be lost in a crash, and the counter rows the triggers update stay locked for microseconds."""
    if not opens:
        return
    on_postgresql = connection.vendor == "postgresql"
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for message_pk, at in opens:
        params += [
            message_pk if on_postgresql else message_pk.hex,
            adapt(at),
            adapt(at - window),
            adapt(at + window),
        ]
    sql = OPENS.format(
        rows=", ".join([ROW[connection.vendor]] * len(opens)),
        event=EmailEvent._meta.db_table,
        message=Message._meta.db_table,
        campaign=Campaign._meta.db_table,
        step=CampaignStep._meta.db_table,
        opens_on=OPENS_ON[connection.vendor],
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if on_postgresql:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(LOCK_MESSAGES, [sorted({str(pk) for pk, _ in opens})])
        cursor.execute(sql, params)
        written = cursor.fetchall()
        if written:
            _log_opens([pk for pk, _ in opens], written)


def _log_opens(candidates: list[uuid.UUID], written: list[tuple]) -> None:
    """message.opened for each open written (by its lead and step), in the same transaction."""
    positions = dict(
        CampaignStep.objects.filter(pk__in={step for _, step in written}).values_list(
            "pk", "position"
        )
    )
    # SQLite returns a UUID column as its 32 hex digits, PostgreSQL as a UUID.
    messages = Message.objects.filter(pk__in=candidates).values_list("pk", "lead_id", "step")
    by_key = {(lead, step): pk for pk, lead, step in messages}
    # One event per open written: two opens of a message in one batch are two events.
    pks = [by_key.get((uuid.UUID(str(lead)), positions.get(step))) for lead, step in written]
    events = {event.data["message"]: event for event in message_events("message.opened", pks)}
    record_events([events[pk] for pk in pks if pk in events])
