"""The engine's SQL where the databases differ: PostgreSQL in one round trip over arrays, the
others (SQLite) through the ORM. `store()` gives the one for the current connection; both have
the same methods."""

import uuid
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection

from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from delivery.claimed import Claim
from delivery.models import Attempt, Message
from delivery.outcomes import Outcome, Result
from delivery.records import (
    Event,
    bounce_streak,
    event_insert_params,
    event_insert_sql,
    lead_event,
    sent_event,
)
from delivery.schedule import Window, next_step_at
from events.services import insert_params as log_insert_params
from events.services import insert_sql as log_insert_sql
from events.services import nudge
from leads import transitions
from leads.models import Lead

if TYPE_CHECKING:
    from delivery.send import _Context as Context

Status = Message.Status


def reserve_attempts(claims: list[Claim]) -> None:
    Attempt.objects.bulk_create(
        Attempt(
            message_id=c.message_id,
            campaign_id=c.campaign_id,
            sender_account_id=c.account_id,
            at=c.claimed_at,
        )
        for c in claims
    )


def _campaign_status(campaign_id: uuid.UUID, lock: str) -> str | None:
    table = Campaign._meta.db_table
    with connection.cursor() as cursor:
        pk = Campaign._meta.pk.get_db_prep_value(campaign_id, connection)
        cursor.execute(f"SELECT status FROM {table} WHERE id = %s{lock}", [pk])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


class PostgresStore:
    def relaxed_commit(self) -> None:
        """This transaction may be lost if the database server itself crashes (not a worker): a
        lost claim is claimed again, a lost record leaves the message SENDING, which recovery
        turns into FAILED "interrupted" — never a second send. The gate stays durable."""
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")

    def campaign_status_for_share(self, campaign_id: uuid.UUID) -> str | None:
        return _campaign_status(campaign_id, " FOR SHARE")

    def insert_claimed(self, claims: list[Claim]) -> None:
        """New CLAIMED messages and the attempts they reserve in one statement over arrays (a
        claim of hundreds of rows spent most of its time building model instances)."""
        if not claims:
            return
        message_table, attempt_table = Message._meta.db_table, Attempt._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""WITH claimed AS (
                INSERT INTO {message_table} (id, lead_id, campaign_id, step, sender_account_id,
                    status, attempts, message_id, subject, error, claimed_at)
                SELECT id, lead_id, campaign_id, step, account_id, %s, 0, '', '', '', %s
                FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::int[], %s::uuid[])
                    AS t(id, lead_id, campaign_id, step, account_id)
                RETURNING id, campaign_id, sender_account_id, claimed_at)
            INSERT INTO {attempt_table} (message_id, campaign_id, sender_account_id, at)
            SELECT id, campaign_id, sender_account_id, claimed_at FROM claimed""",  # noqa: S608
                [
                    Status.CLAIMED,
                    claims[0].claimed_at,
                    [c.message_id for c in claims],
                    [c.lead_id for c in claims],
                    [c.campaign_id for c in claims],
                    [c.step for c in claims],
                    [c.account_id for c in claims],
                ],
            )

    def pin_leads(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Claimed leads: nothing due any more, and the account that sends their thread."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Lead._meta.db_table} AS l SET next_send_at = NULL,"  # noqa: S608
                " sender_account_id = t.account_id FROM unnest(%s::uuid[], %s::uuid[])"
                " AS t(id, account_id) WHERE l.id = t.id",
                [[lead for lead, _ in pairs], [account for _, account in pairs]],
            )

    def gate(self, item: Claim, values: dict) -> Outcome | None:
        """The gate's UPDATE: None once the message is SENDING (the gate is open), else
        PAUSED or LOST."""
        # One round trip: the campaign row is locked FOR SHARE by the EXISTS.
        message_table, campaign_table = Message._meta.db_table, Campaign._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {message_table} SET status = %s, attempts = %s, attempted_at = %s,"  # noqa: S608
                " message_id = %s, subject = %s WHERE id = %s AND status = %s AND claimed_at = %s"
                f" AND EXISTS (SELECT 1 FROM {campaign_table} WHERE id = %s AND status = %s"
                " FOR SHARE)",
                [*values.values(), item.message_id, Status.CLAIMED, item.claimed_at,
                 item.campaign_id, Campaign.Status.ACTIVE],
            )  # fmt: skip
            if cursor.rowcount:
                return None
        if self.campaign_status_for_share(item.campaign_id) != Campaign.Status.ACTIVE:
            return Outcome.PAUSED
        return Outcome.LOST

    def record_sent(
        self,
        item: Claim,
        context: "Context",
        steps: list[CampaignStep],
        step: CampaignStep,
        account_free_at: datetime | None,
        message_id: str,
    ) -> Result | None:
        """The common case in one round trip: message SENT, event SENT (the counters' and the
        event log's message.sent, and lead.completed after the last step), the lead's next step
        (its current status decides, read by the UPDATE itself). Several statements in one query
        run as one transaction; it holds the counters' rows only while it runs."""
        campaign = context.campaign
        now = clock.now()
        last = item.step >= len(steps)
        when = None if last else _next_step(campaign, steps[item.step], now, account_free_at)
        going_on = transitions.continuing(stop_on_reply=campaign.stop_on_reply)
        status_after, status_params = transitions.after_send_sql("status", last=last)
        lead_table, message_table = Lead._meta.db_table, Message._meta.db_table
        campaign_table = Campaign._meta.db_table
        completed_cte, log_params = _logged(item, context, message_id, now, last=last)
        # The locks in record()'s order: the campaign row, then the lead (updated first, with its
        # counters), its message, the event's counters. A lead deleted meanwhile gets no event, and
        # its message went with it.
        sql = f"""SET LOCAL synchronous_commit TO OFF;
        SELECT 1 FROM {campaign_table} WHERE id = %s FOR SHARE;
        WITH lead AS (
            UPDATE {lead_table} SET current_step = %s, last_sent_at = %s,
                status = {status_after},
                next_send_at = CASE WHEN %s AND status = ANY(%s) AND (SELECT status FROM
                    {campaign_table} WHERE id = %s) = %s THEN %s::timestamptz END
            WHERE id = %s RETURNING id, next_send_at, status),
        message AS (
            UPDATE {message_table} SET status = %s, sent_at = %s, error = '' WHERE id = %s),
        event AS ({event_insert_sql("lead")}),
        logged AS ({log_insert_sql("lead")}){completed_cte}
        SELECT next_send_at FROM lead;
        {bounce_streak.end_sql()}"""  # noqa: S608 (names from the models)
        params = [
            campaign.pk,
            item.step, now,
            *status_params,
            not last, list(going_on), campaign.pk, Campaign.Status.ACTIVE, when,
            item.lead_id,
            Status.SENT, now, item.message_id,
            *event_insert_params(campaign.pk, item.account_id, step.pk, Event.SENT, now),
            *log_params,
            campaign.pk,
        ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for _ in range(2):  # past the SET and the campaign's lock
                cursor.nextset()
            row = cursor.fetchone()
        if row is None:  # deleted while its message was on the wire: nothing to record
            return Result(Outcome.GONE, ended=True)
        nudge()  # committed: the webhooks' dispatcher may deliver the events
        return Result(Outcome.SENT, ended=row[0] is None)


def _next_step(
    campaign: Campaign, step: CampaignStep, now: datetime, account_free_at: datetime | None
) -> datetime:
    """When the lead's next step is due (if its sequence goes on: the SQL decides)."""
    return next_step_at(
        Window.of(campaign.schedule),
        sent_at=now,
        delay_days=step.delay_days,
        account_free_at=account_free_at,
    )


def _logged(
    item: Claim, context: "Context", message_id: str, now: datetime, *, last: bool
) -> tuple[str, list]:
    """The event log's part of record_sent: message.sent (its CTE is always there), and after
    the last step lead.completed when the lead's new status is COMPLETED (its CTE, returned)."""
    campaign, lead = context.campaign, context.lead
    params = log_insert_params(
        sent_event(
            "message.sent", campaign, item.lead_id, lead.email, account_id=item.account_id,
            step=item.step, message_pk=item.message_id, message_id=message_id,
        ),
        now,
    )  # fmt: skip
    if not last:
        return "", params
    completed = lead_event("lead.completed", campaign, item.lead_id, lead.email)
    params += [*log_insert_params(completed, now), transitions.COMPLETED]
    return f",\n        completed AS ({log_insert_sql('lead', 'status = %s')})", params


class GenericStore:
    def relaxed_commit(self) -> None:
        """Commits stay durable: the setting is PostgreSQL's."""

    def campaign_status_for_share(self, campaign_id: uuid.UUID) -> str | None:
        return _campaign_status(campaign_id, "")

    def insert_claimed(self, claims: list[Claim]) -> None:
        """New CLAIMED messages and the attempts they reserve."""
        if not claims:
            return
        Message.objects.bulk_create(
            Message(
                id=c.message_id,
                lead_id=c.lead_id,
                campaign_id=c.campaign_id,
                step=c.step,
                sender_account_id=c.account_id,
                claimed_at=c.claimed_at,
            )
            for c in claims
        )
        reserve_attempts(claims)

    def pin_leads(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Claimed leads: nothing due any more, and the account that sends their thread."""
        by_account = defaultdict(list)
        for lead_id, account_id in pairs:
            by_account[account_id].append(lead_id)
        for account_id, ids in by_account.items():
            Lead.objects.filter(pk__in=ids).update(next_send_at=None, sender_account_id=account_id)

    def gate(self, item: Claim, values: dict) -> Outcome | None:
        """The gate's UPDATE: None once the message is SENDING (the gate is open), else
        PAUSED or LOST."""
        # The IMMEDIATE transaction holds the write lock.
        if self.campaign_status_for_share(item.campaign_id) != Campaign.Status.ACTIVE:
            return Outcome.PAUSED
        mine = Message.objects.filter(
            pk=item.message_id, status=Status.CLAIMED, claimed_at=item.claimed_at
        )
        return None if mine.update(**values) else Outcome.LOST

    def record_sent(
        self,
        item: Claim,
        context: "Context",
        steps: list[CampaignStep],
        step: CampaignStep,
        account_free_at: datetime | None,
        message_id: str,
    ) -> Result | None:
        """None: a send is recorded in record()'s transaction, like every other outcome."""
        return None


POSTGRES, GENERIC = PostgresStore(), GenericStore()


def store() -> PostgresStore | GenericStore:
    """The store for the current thread's database connection."""
    return POSTGRES if connection.vendor == "postgresql" else GENERIC
