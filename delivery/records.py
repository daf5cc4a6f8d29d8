"""The engine's writes into other apps' records, each in one place: engagement events and the
campaign-level audit rows (actor: the engine)."""

import logging
import uuid
from datetime import datetime

from django.db import connection

from audit.models import AuditEvent
from audit.services import ENGINE, record
from campaigns.models import Campaign
from delivery.models import Message
from engagement.models import CampaignCounter, EmailEvent
from events.services import NewEvent, lead_data, message_data, record_events
from events.services import record_event as record_log_event
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")

Event = EmailEvent.Type
Action = AuditEvent.Action


def record_event(
    *,
    campaign_id: uuid.UUID,
    lead_id: uuid.UUID,
    sender_account_id: uuid.UUID | None,
    step_id: int | None,
    type: str,
    at: datetime,
) -> None:
    EmailEvent.objects.create(
        campaign_id=campaign_id,
        lead_id=lead_id,
        sender_account_id=sender_account_id,
        step_id=step_id,
        type=type,
        occurred_at=at,
    )


def event_insert_sql(leads: str) -> str:
    """An INSERT of one event for each row of `leads` (a table expression with the lead's `id`):
    none for a lead that is gone. Its parameters: event_insert_params."""
    return (
        f"INSERT INTO {EmailEvent._meta.db_table} (campaign_id, lead_id, sender_account_id,"  # noqa: S608
        f" step_id, type, occurred_at) SELECT %s, id, %s, %s, %s, %s FROM {leads}"
    )


def event_insert_params(
    campaign_id: uuid.UUID,
    sender_account_id: uuid.UUID | None,
    step_id: int | None,
    type: str,
    at: datetime,
) -> list:
    """The parameters of event_insert_sql (for the engine's one-round-trip record)."""
    return [campaign_id, sender_account_id, step_id, type, at]


def event_totals(campaign_id: uuid.UUID) -> dict[str, int]:
    """The campaign's events by type, from the counters the database triggers keep."""
    keys = CampaignCounter.objects.filter(
        campaign_id=campaign_id, key__in=[f"event:{t}" for t in Event.values]
    ).values_list("key", "value")
    return {key.removeprefix("event:"): value for key, value in keys}


def audit(campaign: Campaign, action: Action, detail: str) -> None:
    """One audit row for a campaign-level change the engine made (never one per message); call
    it inside the change's transaction."""
    record(ENGINE, action, campaign, extra={"detail": detail})
    logger.info("engine %s campaign %s: %s", action, campaign.pk, detail)


class BounceStreak:
    """SMTP hard bounces in a row of one campaign (API.md §7: 5 in a row pause it), kept in the
    campaign's counter row `streak:hard_bounces`. Bounce reports read later never count here.
    A send ends the row (one UPDATE that finds nothing to change, and so locks nothing, while
    the row is at 0), and so does `activate`."""

    KEY = "streak:hard_bounces"

    def _table_and_pk(self, campaign_id: uuid.UUID) -> tuple[str, object]:
        pk = Campaign._meta.pk.get_db_prep_value(campaign_id, connection)
        return CampaignCounter._meta.db_table, pk

    def extend(self, campaign_id: uuid.UUID) -> int:
        """One more hard bounce; the length of the row now."""
        table, pk = self._table_and_pk(campaign_id)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (campaign_id, key, value) VALUES (%s, %s, 1)"  # noqa: S608
                " ON CONFLICT (campaign_id, key) DO UPDATE SET value = "
                f"{table}.value + 1 RETURNING value",
                [pk, self.KEY],
            )
            return cursor.fetchone()[0]

    def end_sql(self) -> str:
        """The UPDATE of `end`, for the engine's one-round-trip record (parameter: the id)."""
        return (
            f"UPDATE {CampaignCounter._meta.db_table} SET value = 0"  # noqa: S608
            f" WHERE campaign_id = %s AND key = '{self.KEY}' AND value > 0"
        )

    def end(self, campaign_id: uuid.UUID) -> None:
        _, pk = self._table_and_pk(campaign_id)
        with connection.cursor() as cursor:
            cursor.execute(self.end_sql(), [pk])

    def length(self, campaign_id: uuid.UUID) -> int:
        value = (
            CampaignCounter.objects.filter(campaign_id=campaign_id, key=self.KEY)
            .values_list("value", flat=True)
            .first()
        )
        return value or 0


bounce_streak = BounceStreak()


def account_moved(account: SenderAccount, status: str, last_error: str) -> None:
    """The event of an account going into ERROR or out of it (API.md §10), inside the change's
    transaction."""
    type = (
        "sender_account.error"
        if status == SenderAccount.Status.ERROR
        else "sender_account.recovered"
    )
    data = {
        "sender_account_id": account.pk,
        "email": account.email,
        "status": status,
        "last_error": last_error,
    }
    record_log_event(account.workspace_id, type, data)


# The event log's message.* and lead.* events (API.md §10), written in the caller's transaction.


def sent_event(
    type: str,
    campaign: Campaign,
    lead_id: uuid.UUID,
    lead_email: str,
    *,
    account_id: uuid.UUID | None,
    step: int | None,
    message_pk: uuid.UUID,
    message_id: str,
    **extra: object,
) -> NewEvent:
    """A message event from what the engine holds in memory (no query)."""
    data = message_data(
        campaign, lead_id, lead_email,
        sender_account_id=account_id, step=step, message=message_pk, message_id=message_id,
        kind="STEP" if step is not None else "ANSWER",
    )  # fmt: skip
    return NewEvent(campaign.workspace_id, type, {**data, **extra}, campaign.pk, lead_id)


def lead_event(
    type: str, campaign: Campaign, lead_id: uuid.UUID, lead_email: str, **extra: object
) -> NewEvent:
    data = {**lead_data(campaign, lead_id, lead_email), **extra}
    return NewEvent(campaign.workspace_id, type, data, campaign.pk, lead_id)


_FACTS = (
    "pk", "lead_id", "campaign_id", "step", "sender_account_id", "message_id", "lead__email",
    "campaign__name", "campaign__status", "campaign__workspace_id",
)  # fmt: skip


class _Campaign:
    def __init__(self, row: dict) -> None:
        self.pk, self.name = row["campaign_id"], row["campaign__name"]
        self.status, self.workspace_id = row["campaign__status"], row["campaign__workspace_id"]


def message_events(
    type: str, message_pks: list[uuid.UUID], extra: dict[uuid.UUID, dict] | None = None
) -> list[NewEvent]:
    """Message events for stored messages (one query), each with its `extra` fields."""
    events = []
    for row in Message.objects.filter(pk__in=message_pks).values(*_FACTS):
        events.append(
            sent_event(
                type, _Campaign(row), row["lead_id"], row["lead__email"],
                account_id=row["sender_account_id"], step=row["step"], message_pk=row["pk"],
                message_id=row["message_id"], **(extra or {}).get(row["pk"], {}),
            )
        )  # fmt: skip
    return events


def complete_leads(campaign: Campaign, leads: object, **changes: object) -> None:
    """Move `leads` (a queryset) to COMPLETED, each one that moves with its lead.completed."""
    from leads import transitions

    # The rows the move will change (its own rule: the statuses COMPLETED may follow).
    moving = list(
        leads.filter(status__in=transitions.sources(transitions.COMPLETED)).values_list(
            "pk", "email"
        )
    )
    transitions.move(leads, transitions.COMPLETED, **changes)
    record_events([lead_event("lead.completed", campaign, pk, email) for pk, email in moving])


def record_message_event(type: str, message_pk: uuid.UUID, **extra: object) -> None:
    record_events(message_events(type, [message_pk], {message_pk: extra}))


def record_lead_event(
    type: str, message_pk: uuid.UUID, *, with_message_id: bool = False, **extra: object
) -> None:
    """A lead event (L + extra) about the lead of a stored message (+ that message's
    Message-ID, `with_message_id`)."""
    for row in Message.objects.filter(pk=message_pk).values(*_FACTS):
        more = {"message_id": row["message_id"], **extra} if with_message_id else extra
        campaign = _Campaign(row)
        record_events([lead_event(type, campaign, row["lead_id"], row["lead__email"], **more)])
