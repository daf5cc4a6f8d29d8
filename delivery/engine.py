"""The sending engine: claim what is due, pass the gate, send, record (API.md §7).

1. claim (short transaction per campaign): due leads, follow-ups first, FOR UPDATE SKIP LOCKED;
   their Message rows CLAIMED, an Attempt reserved against the rolling limits, next_send_at
   cleared, the account's next free instant moved by a random gap.
2. gate: the campaign row FOR SHARE (pause takes FOR UPDATE), still ACTIVE, message SENDING,
   MAIL FROM accepted, commit. Once `pause` has answered no gate can pass.
3. send RCPT and DATA on the account's connection, reused for the batch.
4. record (one transaction): the message, the event, the lead's next step or end.
A worker sends for several accounts at once (lanes, SEND_CONNECTIONS on PostgreSQL), each over
its own SMTP and database connection; one account's messages go one after the other.
A CLAIMED row never gated is handed back after the lease; a SENDING row is never sent again
(FAILED "interrupted"): at most once."""

import logging
import random
import threading
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Count, Min, QuerySet

from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from coldsend.core.ids import uuid7
from delivery import building, placeholders
from delivery.actions import do_suppress
from delivery.completion import complete_if_done
from delivery.models import Attempt, Message
from delivery.protection import protect_from_bounces
from delivery.records import (
    Event,
    event_insert_params,
    event_insert_sql,
    event_totals,
    record_event,
)
from delivery.schedule import Window, next_step_at, retry_at
from delivery.transport import AccountError, Bounce, Session, TemporaryFailure, open_session
from engagement.models import Suppression
from leads import transitions
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")

DAY = timedelta(hours=24)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PUSH_MAX = 1000  # leads moved per statement when a campaign or account is blocked
Status = Message.Status


@dataclass(frozen=True)
class Claim:
    message_id: uuid.UUID
    lead_id: uuid.UUID
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    step: int
    claimed_at: datetime
    attempts: int = 0


# Claim


def _usage(attempts: QuerySet, now: datetime) -> tuple[int, datetime | None]:
    """Attempts in the rolling 24 hours before `now`, and the oldest of them."""
    row = attempts.filter(at__gt=now - DAY).aggregate(n=Count("pk"), oldest=Min("at"))
    return row["n"], row["oldest"]


def _push(leads: QuerySet, when: datetime | None) -> None:
    """Move due leads to `when` without waiting for rows another worker holds."""
    ids = list(leads.select_for_update(skip_locked=True).values_list("pk", flat=True)[:PUSH_MAX])
    if ids:
        Lead.objects.filter(pk__in=ids).update(next_send_at=when)


@dataclass
class _Account:
    account: SenderAccount
    free_at: datetime
    room: int  # messages it may take in this claim

    def gap(self) -> timedelta:
        a = self.account
        low, high = a.min_interval_seconds, max(a.min_interval_seconds, a.max_interval_seconds)
        return timedelta(seconds=random.uniform(low, high))  # noqa: S311 (pacing, not security)


def _recheck_at(account: SenderAccount, now: datetime) -> datetime:
    return max(
        now, (account.checked_at or now) + timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS)
    )


def _accounts(campaign: Campaign, now: datetime) -> tuple[set, dict[uuid.UUID, _Account]]:
    """The campaign's account ids, and those this worker could lock with what they may send."""
    ids = set(campaign.sender_accounts.values_list("pk", flat=True))
    locked = SenderAccount.objects.select_for_update(skip_locked=True).filter(pk__in=ids)
    states = {}
    for account in locked.order_by("pk"):
        used, oldest = _usage(Attempt.objects.filter(sender_account=account), now)
        free_at = max(now, account.next_available_at or now)
        if used >= account.daily_limit:
            free_at = max(free_at, oldest + DAY)
        room = 0
        if account.status == SenderAccount.Status.ACTIVE and free_at <= now:
            room = 1 if account.max_interval_seconds > 0 else account.daily_limit - used
        states[account.pk] = _Account(account, free_at, room)
    return ids, states


def _pick(states: dict[uuid.UUID, _Account]) -> _Account | None:
    """The least recently used account that may send now."""
    ready = [s for s in states.values() if s.room > 0]
    if not ready:
        return None
    return min(
        ready,
        key=lambda s: (
            s.account.next_available_at or EPOCH,
            -s.room,
        ),
    )


def _next_free(states: dict[uuid.UUID, _Account], now: datetime) -> datetime | None:
    """When one of these accounts may send again, if later than now: the earliest end of a
    gap or a full rolling day, else the earliest re-check of an account in ERROR."""
    active = [s for s in states.values() if s.account.status == SenderAccount.Status.ACTIVE]
    when = min((s.free_at for s in active), default=None)
    if when is None:
        errored = [s for s in states.values() if s.account.status == SenderAccount.Status.ERROR]
        when = min((_recheck_at(s.account, now) for s in errored), default=None)
    return when if when is not None and when > now else None


def claim_campaign(campaign_id: uuid.UUID, now: datetime, room: int) -> list[Claim]:
    """Claim up to `room` due sends of one campaign (follow-ups first), within its window and
    both rolling limits; move what cannot go now to when it can (next_send_at)."""
    claims: list[Claim] = []
    finished: dict[str, list] = defaultdict(list)  # lead status -> lead ids leaving the sequence
    with transaction.atomic():
        _relaxed_commit()
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            return []
        due = Lead.objects.filter(campaign_id=campaign_id, next_send_at__lte=now)
        if campaign.status != Campaign.Status.ACTIVE:
            _push(due, None)
            return []
        window = Window.of(campaign.schedule)
        opening = window.next_open(now)
        if opening > now:
            _push(due, opening)
            return []
        used, oldest = _usage(Attempt.objects.filter(campaign_id=campaign_id), now)
        if used >= campaign.daily_limit:
            _push(due, window.next_open(oldest + DAY))
            return []
        room = min(room, campaign.daily_limit - used)
        steps = CampaignStep.objects.filter(campaign=campaign).count()
        going_on = set(transitions.continuing(stop_on_reply=campaign.stop_on_reply))
        account_ids, states = _accounts(campaign, now)
        pushes: dict[datetime, list] = defaultdict(list)
        taken: list[tuple[Lead, _Account]] = []

        def take(lead: Lead, state: _Account) -> None:
            taken.append((lead, state))
            state.room -= 1
            gap = state.gap()
            if gap:
                state.account.next_available_at = now + gap
                state.free_at = now + gap
                state.room = 0
            elif state.account.next_available_at is None or state.account.next_available_at < now:
                state.account.next_available_at = now

        columns = ("pk", "email", "status", "current_step", "sender_account_id", "workspace_id")
        followups = list(
            due.filter(current_step__gt=0)
            .select_for_update(skip_locked=True)
            .order_by("next_send_at")
            .only(*columns)[:room]
        )
        for lead in followups:
            if len(taken) >= room:
                break
            if lead.current_step >= steps or lead.status not in going_on:
                finished[transitions.COMPLETED].append(lead.pk)  # when it may become it
                continue
            pinned = lead.sender_account_id
            if pinned in account_ids:
                state = states.get(pinned)
                if state is None:
                    continue  # another worker holds the account: it stays due
                if state.account.status == SenderAccount.Status.ERROR:
                    pushes[_recheck_at(state.account, now)].append(lead.pk)
                    continue
                if state.account.status == SenderAccount.Status.ACTIVE:
                    if state.room > 0:
                        take(lead, state)
                    else:
                        pushes[state.free_at].append(lead.pk)
                    continue
            state = _pick(states)  # the account left the campaign, was deleted or disabled
            if state is not None:
                take(lead, state)
            elif (when := _next_free(states, now)) is not None:
                pushes[when].append(lead.pk)

        free = sum(s.room for s in states.values())
        if len(taken) < room and free > 0:
            new = list(
                due.filter(current_step=0)
                .select_for_update(skip_locked=True)
                .order_by("next_send_at")
                .only(*columns)[: min(room - len(taken), free)]
            )
            for lead in new:
                state = _pick(states)
                if state is None:
                    break
                take(lead, state)
        elif free == 0 and (when := _next_free(states, now)) is not None:
            _push(due.filter(current_step=0), window.next_open(when))

        # Suppressed addresses are never contacted (again).
        if taken:
            emails = {lead.email for lead, _ in taken}
            suppressed = dict(
                Suppression.objects.filter(
                    workspace_id=campaign.workspace_id, email__in=emails
                ).values_list("email", "reason")
            )
            kept = []
            for lead, state in taken:
                if lead.email in suppressed:
                    finished[suppressed[lead.email]].append(lead.pk)
                else:
                    kept.append((lead, state))
            taken = kept

        for when, ids in pushes.items():
            Lead.objects.filter(pk__in=ids).update(next_send_at=window.next_open(when))
        for status, ids in finished.items():
            leads = Lead.objects.filter(pk__in=ids)
            leads.update(next_send_at=None)
            transitions.move(leads, status)

        if taken:
            claims = _write_claims(campaign, taken, now)
    if finished:
        complete_if_done(campaign_id)
    return claims


def _write_claims(campaign: Campaign, taken: list, now: datetime) -> list[Claim]:
    retrying = {
        m.lead_id: m
        for m in Message.objects.filter(
            lead_id__in=[lead.pk for lead, _ in taken], status=Status.RETRY
        )
    }
    claims, retried, new, again = [], [], [], []  # claims in the order taken (follow-ups first)
    for lead, state in taken:
        message = retrying.get(lead.pk)
        step, account_id = lead.current_step + 1, state.account.pk
        if message is not None and message.step == step:  # a retry: the same row again
            message.status, message.claimed_at = Status.CLAIMED, now
            message.sender_account_id = account_id
            again.append(message)
            item = Claim(message.pk, lead.pk, campaign.pk, account_id, step, now, message.attempts)
            retried.append(item)
        else:
            item = Claim(uuid7(), lead.pk, campaign.pk, account_id, step, now)
            new.append(item)
        claims.append(item)
    _insert_claimed(new)
    Message.objects.bulk_update(again, ["status", "claimed_at", "sender_account_id"])
    _reserve_attempts(retried)
    _pin_leads([(lead.pk, state.account.pk) for lead, state in taken])
    for state in {s.account.pk: s for _, s in taken}.values():
        SenderAccount.objects.filter(pk=state.account.pk).update(
            next_available_at=state.account.next_available_at
        )
    return claims


def _reserve_attempts(claims: list[Claim]) -> None:
    Attempt.objects.bulk_create(
        Attempt(
            message_id=c.message_id,
            campaign_id=c.campaign_id,
            sender_account_id=c.account_id,
            at=c.claimed_at,
        )
        for c in claims
    )


def _insert_claimed(claims: list[Claim]) -> None:
    """New CLAIMED messages and the attempts they reserve; on PostgreSQL one statement over
    arrays (a claim of hundreds of rows spent most of its time building model instances)."""
    if not claims:
        return
    if connection.vendor != "postgresql":
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
        _reserve_attempts(claims)
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


def _pin_leads(pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Claimed leads: nothing due any more, and the account that sends their thread."""
    if connection.vendor != "postgresql":
        by_account = defaultdict(list)
        for lead_id, account_id in pairs:
            by_account[account_id].append(lead_id)
        for account_id, ids in by_account.items():
            Lead.objects.filter(pk__in=ids).update(next_send_at=None, sender_account_id=account_id)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Lead._meta.db_table} AS l SET next_send_at = NULL,"  # noqa: S608
            " sender_account_id = t.account_id FROM unnest(%s::uuid[], %s::uuid[])"
            " AS t(id, account_id) WHERE l.id = t.id",
            [[lead for lead, _ in pairs], [account for _, account in pairs]],
        )


def due_campaigns(now: datetime, limit: int = 50) -> list[uuid.UUID]:
    ids = (
        Lead.objects.filter(next_send_at__lte=now)
        .order_by("next_send_at")
        .values_list("campaign_id", flat=True)[:limit]
    )
    return list(dict.fromkeys(ids))


def claim(now: datetime, batch: int) -> list[Claim]:
    claims: list[Claim] = []
    campaigns = due_campaigns(now)
    # Workers start on different campaigns so they do not queue on one campaign row.
    if len(campaigns) > 1:
        shift = random.randrange(len(campaigns))  # noqa: S311
        campaigns = campaigns[shift:] + campaigns[:shift]
    for campaign_id in campaigns:
        claims += claim_campaign(campaign_id, now, batch - len(claims))
        if len(claims) >= batch:
            break
    return claims


# Gate, send, record


@dataclass
class _Context:
    lead: Lead
    campaign: Campaign
    steps: list[CampaignStep]
    thread: list[str]


def _campaign_status_for_share(campaign_id: uuid.UUID) -> str | None:
    table = Campaign._meta.db_table
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        pk = Campaign._meta.pk.get_db_prep_value(campaign_id, connection)
        cursor.execute(f"SELECT status FROM {table} WHERE id = %s{lock}", [pk])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def _release(message: Message, when: datetime | None) -> None:
    """Hand a claimed message back, untouched: nothing was attempted."""
    Attempt.objects.filter(message_id=message.pk, at__gte=message.claimed_at).delete()
    if message.attempts:
        Message.objects.filter(pk=message.pk).update(status=Status.RETRY)
    else:
        Message.objects.filter(pk=message.pk).delete()
    Lead.objects.filter(pk=message.lead_id).update(next_send_at=when)


def release(claims: list[Claim], wait_for: SenderAccount | None = None) -> None:
    """Hand claims back (a worker stopping, an account that cannot send): follow-ups pinned to
    an account in ERROR wait for its re-check, everything else is due again now."""
    now = clock.now()
    for item in claims:
        with transaction.atomic():
            message = (
                Message.objects.select_for_update()
                .filter(pk=item.message_id, status=Status.CLAIMED, claimed_at=item.claimed_at)
                .first()
            )
            if message is None:
                continue
            campaign = Campaign.objects.get(pk=item.campaign_id)
            when = None
            if campaign.status == Campaign.Status.ACTIVE:
                when = now
                if wait_for is not None and item.step > 1:
                    when = _recheck_at(wait_for, now)
                when = Window.of(campaign.schedule).next_open(when)
            _release(message, when)


def _account_failed(account: SenderAccount, error: str) -> None:
    SenderAccount.objects.filter(pk=account.pk).update(
        status=SenderAccount.Status.ERROR, last_error=error[:300], checked_at=clock.now()
    )
    account.status, account.checked_at = SenderAccount.Status.ERROR, clock.now()
    logger.warning("sender account %s in ERROR: %s", account.pk, error)


def _contexts(claims: list[Claim]) -> dict[uuid.UUID, _Context]:
    leads = Lead.objects.in_bulk([c.lead_id for c in claims])
    campaigns = Campaign.objects.in_bulk({c.campaign_id for c in claims})
    steps = defaultdict(list)
    for step in CampaignStep.objects.filter(campaign_id__in=campaigns).order_by("position"):
        steps[step.campaign_id].append(step)
    threads = defaultdict(list)
    for lead_id, message_id in (
        Message.objects.filter(lead_id__in=leads, status=Status.SENT)
        .order_by("step")
        .values_list("lead_id", "message_id")
    ):
        threads[lead_id].append(message_id)
    return {
        c.message_id: _Context(
            leads[c.lead_id], campaigns[c.campaign_id], steps[c.campaign_id], threads[c.lead_id]
        )
        for c in claims
        if c.lead_id in leads and c.campaign_id in campaigns
    }


def _relaxed_commit() -> None:
    """This transaction may be lost if the database server itself crashes (not a worker): a
    lost claim is claimed again, a lost record leaves the message SENDING, which recovery
    turns into FAILED "interrupted" — never a second send. The gate stays durable."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _gate(item: Claim, built: building.Built) -> str:
    """Inside the gate's transaction: "open" once the campaign row is held FOR SHARE, seen
    ACTIVE, and the message marked SENDING; "paused" or "lost" otherwise."""
    values = {
        "status": Status.SENDING,
        "attempts": item.attempts + 1,
        "attempted_at": clock.now(),
        "message_id": built.message_id,
        "subject": built.subject,
    }
    if not settings.SEND_GATE_DURABLE:
        _relaxed_commit()
    if connection.vendor != "postgresql":  # the IMMEDIATE transaction holds the write lock
        if _campaign_status_for_share(item.campaign_id) != Campaign.Status.ACTIVE:
            return "paused"
        mine = Message.objects.filter(
            pk=item.message_id, status=Status.CLAIMED, claimed_at=item.claimed_at
        )
        return "open" if mine.update(**values) else "lost"
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
            return "open"
    if _campaign_status_for_share(item.campaign_id) != Campaign.Status.ACTIVE:
        return "paused"
    return "lost"


def send_one(session: Session, account: SenderAccount, item: Claim, context: _Context) -> str:
    """Gate, send and record one claimed message; returns what happened."""
    lead, campaign, steps = context.lead, context.campaign, context.steps
    if item.step > len(steps):
        release([item])
        return "released"
    step = steps[item.step - 1]
    sender, recipient = building.ascii_address(account.email), building.ascii_address(lead.email)
    built = building.build(
        message_pk=item.message_id,
        sender_email=sender,
        sender_name=account.display_name,
        recipient=recipient,
        values=placeholders.lead_values(lead),
        subject_template=step.subject,
        body_template=step.body,
        first_subject_template=steps[0].subject,
        thread=context.thread,
        include_unsubscribe_link=campaign.include_unsubscribe_link,
        sent_at=clock.now(),
        tracking=campaign.tracking,
    )
    failure: Exception | None = None
    with transaction.atomic():
        gated = _gate(item, built)
        if gated != "open":
            return _closed(item, gated)
        try:
            session.begin(sender)
        except TemporaryFailure as exc:
            failure = exc
    if failure is None:
        try:
            session.finish(recipient, built.message)
        except (Bounce, TemporaryFailure) as exc:
            failure = exc
    return record(item, context, step, failure, account.next_available_at)


def _closed(item: Claim, gated: str) -> str:
    """Inside the gate's transaction, when it did not open: a paused campaign gets the message
    back untouched; a message handed back after the lease belongs to another worker now."""
    if gated == "paused":
        message = (
            Message.objects.select_for_update()
            .filter(pk=item.message_id, status=Status.CLAIMED, claimed_at=item.claimed_at)
            .first()
        )
        if message is not None:
            _release(message, None)
            return "paused"
    return "lost"


def _record_sent_postgresql(
    item: Claim, context: _Context, step: CampaignStep, account_free_at: datetime | None
) -> str:
    """The common case in one round trip: message SENT, event SENT, the lead's next step (its
    current status decides, read by the UPDATE itself). Several statements in one query run as
    one transaction; it holds the counters' rows only while it runs."""
    campaign, steps = context.campaign, context.steps
    now = clock.now()
    last = item.step >= len(steps)
    when = None
    if not last:
        when = next_step_at(
            Window.of(campaign.schedule),
            sent_at=now,
            delay_days=steps[item.step].delay_days,
            account_free_at=account_free_at,
        )
    going_on = transitions.continuing(stop_on_reply=campaign.stop_on_reply)
    status_after, status_params = transitions.after_send_sql("status", last=last)
    lead_table, message_table = Lead._meta.db_table, Message._meta.db_table
    campaign_table = Campaign._meta.db_table
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
            WHERE id = %s RETURNING id, next_send_at),
        message AS (
            UPDATE {message_table} SET status = %s, sent_at = %s, error = '' WHERE id = %s),
        event AS ({event_insert_sql("lead")})
        SELECT next_send_at FROM lead"""  # noqa: S608 (names from the models)
    params = [
        campaign.pk,
        item.step, now,
        *status_params,
        not last, list(going_on), campaign.pk, Campaign.Status.ACTIVE, when,
        item.lead_id,
        Status.SENT, now, item.message_id,
        *event_insert_params(campaign.pk, item.account_id, step.pk, Event.SENT, now),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for _ in range(2):  # past the SET and the campaign's lock
            cursor.nextset()
        row = cursor.fetchone()
    if row is None:  # deleted while its message was on the wire: nothing to record
        return "gone:ended"
    ended = row[0] is None
    return f"{Status.SENT}:ended" if ended else Status.SENT


def record(
    item: Claim,
    context: _Context,
    step: CampaignStep,
    failure: Exception | None,
    account_free_at: datetime | None,
) -> str:
    """One transaction: the message's outcome, its event, the lead's next step or end.

    Every writer takes its locks in one order, so no two deadlock: the campaign row (FOR
    SHARE: a campaign delete, which holds it FOR UPDATE, is waited for or waits), the lead, its
    message, the lead's counters, then the event's."""
    campaign, steps = context.campaign, context.steps
    window = Window.of(campaign.schedule)
    attempts = item.attempts + 1
    if failure is None and connection.vendor == "postgresql":
        return _record_sent_postgresql(item, context, step, account_free_at)
    with transaction.atomic():
        _relaxed_commit()
        now = clock.now()
        _campaign_status_for_share(campaign.pk)
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .only("pk", "status", "current_step", "workspace_id", "email", "campaign__status")
            .filter(pk=item.lead_id)
            .first()
        )
        if lead is None:  # deleted while its message was on the wire: nothing to record
            return "gone:ended"
        active = lead.campaign.status == Campaign.Status.ACTIVE
        message = Message.objects.filter(pk=item.message_id)
        event, to = None, None
        changes: dict = {"next_send_at": None}
        if failure is None:
            outcome, event = Status.SENT, Event.SENT
            message.update(status=Status.SENT, sent_at=now, error="")
            changes.update(current_step=item.step, last_sent_at=now)
            last = item.step >= len(steps)
            to = transitions.after_send(lead.status, last=last)
            going_on = transitions.continuing(stop_on_reply=campaign.stop_on_reply)
            if not last and to in going_on and active:
                changes["next_send_at"] = next_step_at(
                    window,
                    sent_at=now,
                    delay_days=steps[item.step].delay_days,
                    account_free_at=account_free_at,
                )
        elif isinstance(failure, Bounce):
            outcome, event, to = Status.BOUNCED, Event.BOUNCED, transitions.BOUNCED
            message.update(status=Status.BOUNCED, error=str(failure))
            do_suppress(lead.workspace_id, lead.email, Suppression.Reason.BOUNCED)
        elif attempts < settings.SEND_MAX_ATTEMPTS:
            outcome = Status.RETRY
            message.update(status=Status.RETRY, error=str(failure))
            changes["next_send_at"] = retry_at(window, now, attempts) if active else None
        else:
            outcome, to = Status.FAILED, transitions.FAILED
            message.update(status=Status.FAILED, error=str(failure))
        leads = Lead.objects.filter(pk=lead.pk)
        if to is None:
            leads.update(**changes)
        else:  # a lead whose status is final (UNSUBSCRIBED) keeps it
            transitions.move(leads, to, **changes)
        if event is not None:
            record_event(
                campaign_id=campaign.pk,
                lead_id=lead.pk,
                sender_account_id=item.account_id,
                step_id=step.pk,
                type=event,
                at=now,
            )
    return outcome if changes["next_send_at"] is not None else f"{outcome}:ended"


def _deliver_account(
    account_id: uuid.UUID,
    items: list[Claim],
    stop: threading.Event | None,
    watched: dict[uuid.UUID, bool],
    outcomes: Counter,
    ended: set[uuid.UUID],
) -> None:
    """Send one account's claims over one connection, counting the outcomes and noting the
    campaigns where a lead's sequence ended (kept even when a later message raises)."""
    account = SenderAccount.objects.filter(pk=account_id).first()
    if account is None or (stop is not None and stop.is_set()):
        release(items)
        return
    try:
        session = open_session(account)
    except AccountError as exc:
        _account_failed(account, str(exc))
        release(items, wait_for=account)
        outcomes["account_error"] += len(items)
        return
    try:
        contexts = _contexts(items)  # read just before this account's sends: steps and leads
        for index, item in enumerate(items):
            if stop is not None and stop.is_set():
                release(items[index:])
                break
            context = contexts.get(item.message_id)
            if context is None:
                continue
            outcome = send_one(session, account, item, context)
            outcome, _, end = outcome.partition(":")
            outcomes[outcome] += 1
            if end:
                ended.add(item.campaign_id)
            if outcome == Status.BOUNCED:
                watched[item.campaign_id] = True
            if watched[item.campaign_id] and protect_from_bounces(item.campaign_id):
                watched[item.campaign_id] = False
    finally:
        session.close()


def _lanes(accounts: int) -> int:
    """How many accounts one worker sends for at once, each over its own SMTP and database
    connection: SEND_CONNECTIONS on PostgreSQL; one on SQLite, where a single writer at a time
    holds the database and the lanes would only queue on it."""
    if connection.vendor != "postgresql":
        return 1
    return max(1, min(settings.SEND_CONNECTIONS, accounts))


def deliver(claims: list[Claim], stop: threading.Event | None = None) -> dict[str, int]:
    """Send claimed messages, one connection per account, several accounts at once (lanes:
    while one mail server is slow the others go on); then complete the campaigns whose leads
    all ended. An error in a lane is raised once every lane has finished and been counted."""
    by_account: dict[uuid.UUID, list[Claim]] = defaultdict(list)
    for item in claims:
        by_account[item.account_id].append(item)
    # Bounce protection reads the counters after each message only for campaigns with bounces.
    watched = {c: bool(event_totals(c).get(Event.BOUNCED)) for c in {i.campaign_id for i in claims}}
    work = deque(by_account.items())
    results: list[tuple[Counter, set[uuid.UUID]]] = []
    errors: list[BaseException] = []

    def lane(own_connection: bool) -> None:
        while True:
            try:
                account_id, items = work.popleft()
            except IndexError:
                break
            outcomes, ended = Counter(), set()
            results.append((outcomes, ended))
            try:
                _deliver_account(account_id, items, stop, watched, outcomes, ended)
            except Exception as exc:  # the other accounts go on; raised again below
                errors.append(exc)
        if own_connection:
            try:
                connections.close_all()  # this thread's connections only
            except Exception:
                logger.exception("send lane: closing its database connection failed")

    helpers = [
        threading.Thread(target=lane, args=(True,), name=f"send-lane-{n}", daemon=True)
        for n in range(1, _lanes(len(by_account)))
    ]
    for thread in helpers:
        thread.start()
    lane(own_connection=False)
    for thread in helpers:
        thread.join()
    outcomes: Counter = Counter()
    ended: set[uuid.UUID] = set()
    for counted, finished in results:
        outcomes.update(counted)
        ended |= finished
    for extra in errors[1:]:  # the first is raised below, for the caller (the worker) to log
        logger.error("send lane failed", exc_info=extra)
    try:
        for campaign_id in ended:
            complete_if_done(campaign_id)
    finally:
        if errors:
            raise errors[0]
    return dict(outcomes)


# Recovery and re-checks


def recover(now: datetime) -> None:
    """CLAIMED past the lease: handed back. SENDING past the lease: maybe delivered, never
    sent again: FAILED "interrupted"."""
    lease = timedelta(seconds=settings.SEND_CLAIM_LEASE_SECONDS)
    stale = Message.objects.filter(status=Status.CLAIMED, claimed_at__lt=now - lease)
    for message in stale.only("pk", "lead_id", "campaign_id", "step", "claimed_at")[:PUSH_MAX]:
        release(
            [
                Claim(
                    message.pk,
                    message.lead_id,
                    message.campaign_id,
                    message.sender_account_id,
                    message.step,
                    message.claimed_at,
                )
            ]
        )
    interrupted = Message.objects.filter(status=Status.SENDING, attempted_at__lt=now - lease)
    for message in interrupted.only("pk", "lead_id", "campaign_id")[:PUSH_MAX]:
        with transaction.atomic():
            if not Message.objects.filter(pk=message.pk, status=Status.SENDING).update(
                status=Status.FAILED, error="interrupted"
            ):
                continue
            leads = Lead.objects.filter(pk=message.lead_id)
            leads.update(next_send_at=None)
            transitions.move(leads, transitions.FAILED)
        complete_if_done(message.campaign_id)


def due_rechecks(now: datetime) -> list[uuid.UUID]:
    """Accounts in ERROR whose re-check is due; marked checked so one worker takes each."""
    due = SenderAccount.objects.filter(
        status=SenderAccount.Status.ERROR,
        checked_at__lte=now - timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS),
    ).values_list("pk", flat=True)
    taken = []
    for account_id in list(due[:100]):
        if SenderAccount.objects.filter(
            pk=account_id,
            status=SenderAccount.Status.ERROR,
            checked_at__lte=now - timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS),
        ).update(checked_at=now):
            taken.append(account_id)
    return taken


def recheck_account(account_id: uuid.UUID) -> bool:
    """Try an account in ERROR again: ACTIVE when it connects and authenticates."""
    account = SenderAccount.objects.filter(pk=account_id, status=SenderAccount.Status.ERROR).first()
    if account is None:
        return False
    try:
        open_session(account).close()
    except AccountError as exc:
        SenderAccount.objects.filter(pk=account_id).update(
            last_error=str(exc)[:300], checked_at=clock.now()
        )
        return False
    SenderAccount.objects.filter(pk=account_id, status=SenderAccount.Status.ERROR).update(
        status=SenderAccount.Status.ACTIVE, last_error="", checked_at=clock.now()
    )
    logger.info("sender account %s is ACTIVE again", account_id)
    return True


def run_once(stop: threading.Event | None = None) -> int:
    """One sending round: recover stale claims, start due re-checks, claim a batch, send it.
    Returns the number of messages claimed. (A worker reads the inboxes before each round:
    run_worker's worker_round.)"""
    from delivery.tasks import enqueue_recheck

    now = clock.now()
    recover(now)
    for account_id in due_rechecks(now):
        enqueue_recheck(account_id)
    claims = claim(now, settings.SEND_BATCH_SIZE)
    if claims:
        deliver(claims, stop)
    return len(claims)


def seconds_until_due(now: datetime, cap: float) -> float:
    """How long a worker may sleep: until the earliest next_send_at, at most `cap`."""
    first = (
        Lead.objects.filter(next_send_at__isnull=False)
        .order_by("next_send_at")
        .values_list("next_send_at", flat=True)
        .first()
    )
    if first is None:
        return cap
    return max(0.0, min(cap, (first - now).total_seconds()))
