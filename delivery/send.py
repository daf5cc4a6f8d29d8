"""Steps 2 to 4 for one claimed message. The gate: the campaign row FOR SHARE (pause takes FOR
UPDATE), still ACTIVE, message SENDING, MAIL FROM accepted, commit; once `pause` has answered no
gate can pass. The send: RCPT and DATA on the account's connection. The record (one
transaction): the message, the event, the lead's next step or end. And the ways a claim is
handed back untouched (release)."""

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from delivery import building, placeholders
from delivery.actions import do_suppress
from delivery.claim import recheck_at
from delivery.claimed import Claim
from delivery.models import Attempt, Message
from delivery.outcomes import Outcome, Result
from delivery.records import (
    Event,
    account_moved,
    bounce_streak,
    lead_event,
    record_event,
    sent_event,
)
from delivery.schedule import Window, next_step_at, retry_at
from delivery.store import store
from delivery.transport import AccountError, Bounce, Refused, Session, TemporaryFailure
from engagement.models import Suppression
from events.services import record_events
from leads import transitions
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")

Status = Message.Status


@dataclass
class _Context:
    lead: Lead
    campaign: Campaign
    steps: list[CampaignStep]
    thread: list[str]


def read_contexts(claims: list[Claim]) -> dict[uuid.UUID, _Context]:
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


# The gate and the send


def _gate(item: Claim, built: building.Built) -> Outcome | None:
    """Inside the gate's transaction: None (open) once the campaign row is held FOR SHARE, seen
    ACTIVE, and the message marked SENDING; PAUSED or LOST otherwise."""
    values = {
        "status": Status.SENDING,
        "attempts": item.attempts + 1,
        "attempted_at": clock.now(),
        "message_id": built.message_id,
        "subject": built.subject,
    }
    db = store()
    if not settings.SEND_GATE_DURABLE:
        db.relaxed_commit()
    return db.gate(item, values)


def send_one(session: Session, account: SenderAccount, item: Claim, context: _Context) -> Result:
    """Gate, send and record one claimed message; returns what happened."""
    lead, campaign, steps = context.lead, context.campaign, context.steps
    if item.step > len(steps):
        release([item])
        return Result(Outcome.RELEASED)
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
    try:
        with transaction.atomic():
            closed = _gate(item, built)
            if closed is not None:
                return _closed(item, closed)
            session.begin(sender)
    except AccountError as exc:
        # The account's fault: the gate is rolled back, the message still CLAIMED and its
        # attempts untouched (not one of the lead's tries); the caller hands it back.
        return Result(Outcome.ACCOUNT_ERROR, account_error=exc)
    try:
        session.finish(recipient, built.message)
    except (Bounce, Refused, TemporaryFailure) as exc:
        failure = exc
    return record(item, context, step, failure, account.next_available_at, built.message_id)


def _closed(item: Claim, gated: Outcome) -> Result:
    """Inside the gate's transaction, when it did not open: a paused campaign gets the message
    back untouched; a message handed back after the lease belongs to another worker now."""
    if gated is Outcome.PAUSED:
        message = (
            Message.objects.select_for_update()
            .filter(pk=item.message_id, status=Status.CLAIMED, claimed_at=item.claimed_at)
            .first()
        )
        if message is not None:
            _release(message, None)
            return Result(Outcome.PAUSED)
    return Result(Outcome.LOST)


# The record


@dataclass
class _Written:
    """What record() writes besides the message: the lead's new status (None: kept), its
    other fields, and the event (None: no event)."""

    outcome: Outcome
    changes: dict
    to: str | None = None
    event: str | None = None
    error: str = ""


def record(
    item: Claim,
    context: _Context,
    step: CampaignStep,
    failure: Exception | None,
    account_free_at: datetime | None,
    message_id: str = "",
) -> Result:
    """One transaction: the message's outcome, its events (the counters' and the event log's),
    the lead's next step or end.

    Every writer takes its locks in one order, so no two deadlock: the campaign row (FOR
    SHARE: a campaign delete, which holds it FOR UPDATE, is waited for or waits), the lead, its
    message, the lead's counters, then the event's."""
    campaign, steps = context.campaign, context.steps
    window = Window.of(campaign.schedule)
    db = store()
    if failure is None:
        recorded = db.record_sent(item, context, steps, step, account_free_at, message_id)
        if recorded is not None:  # PostgreSQL: in one round trip
            return recorded
    with transaction.atomic():
        db.relaxed_commit()
        now = clock.now()
        db.campaign_status_for_share(campaign.pk)
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .only("pk", "status", "current_step", "workspace_id", "email", "campaign__status")
            .filter(pk=item.lead_id)
            .first()
        )
        if lead is None:  # deleted while its message was on the wire: nothing to record
            return Result(Outcome.GONE, ended=True)
        active = lead.campaign.status == Campaign.Status.ACTIVE
        message = Message.objects.filter(pk=item.message_id)
        if failure is None:
            written = _sent(item, context, lead, message, now, active, window, account_free_at)
        else:
            written = _failed(item, failure, lead, message, now, active, window)
        _write_lead(item, context, step, lead, written, now, message_id)
    return Result(written.outcome, ended=written.changes["next_send_at"] is None)


def _sent(
    item: Claim,
    context: _Context,
    lead: Lead,
    message: QuerySet,
    now: datetime,
    active: bool,
    window: Window,
    account_free_at: datetime | None,
) -> _Written:
    """The message SENT; the lead's status after the send, and its next step when its
    sequence goes on in an ACTIVE campaign."""
    steps = context.steps
    changes: dict = {"next_send_at": None}
    message.update(status=Status.SENT, sent_at=now, error="")
    changes.update(current_step=item.step, last_sent_at=now)
    last = item.step >= len(steps)
    to = transitions.after_send(lead.status, last=last)
    going_on = transitions.continuing(stop_on_reply=context.campaign.stop_on_reply)
    if not last and to in going_on and active:
        changes["next_send_at"] = next_step_at(
            window,
            sent_at=now,
            delay_days=steps[item.step].delay_days,
            account_free_at=account_free_at,
        )
    return _Written(Outcome.SENT, changes, to, Event.SENT)


def _failed(
    item: Claim,
    failure: Exception,
    lead: Lead,
    message: QuerySet,
    now: datetime,
    active: bool,
    window: Window,
) -> _Written:
    """A bounce: BOUNCED, the address suppressed. A temporary failure: tried again later while
    attempts are left (RETRY), else FAILED."""
    attempts = item.attempts + 1
    changes: dict = {"next_send_at": None}
    if isinstance(failure, Bounce):
        message.update(status=Status.BOUNCED, error=str(failure))
        do_suppress(
            lead.workspace_id,
            lead.email,
            Suppression.Reason.BOUNCED,
            Suppression.Source.SMTP_BOUNCE,
        )
        return _Written(Outcome.BOUNCED, changes, transitions.BOUNCED, Event.BOUNCED, str(failure))
    if isinstance(failure, Refused):
        message.update(status=Status.FAILED, error=str(failure))
        return _Written(Outcome.FAILED, changes, transitions.FAILED, error=str(failure))
    if attempts < settings.SEND_MAX_ATTEMPTS:
        message.update(status=Status.RETRY, error=str(failure))
        changes["next_send_at"] = retry_at(window, now, attempts) if active else None
        return _Written(Outcome.RETRY, changes)
    message.update(status=Status.FAILED, error=str(failure))
    return _Written(Outcome.FAILED, changes, transitions.FAILED, error=str(failure))


def _write_lead(
    item: Claim,
    context: _Context,
    step: CampaignStep,
    lead: Lead,
    written: _Written,
    now: datetime,
    message_id: str,
) -> None:
    """The lead's fields (and status), then the events: in record()'s lock order."""
    campaign = context.campaign
    leads = Lead.objects.filter(pk=lead.pk)
    if written.to is None:
        leads.update(**written.changes)
    else:  # a lead whose status is final (UNSUBSCRIBED) keeps it
        transitions.move(leads, written.to, **written.changes)
    if written.event is not None:
        record_event(
            campaign_id=campaign.pk,
            lead_id=lead.pk,
            sender_account_id=item.account_id,
            step_id=step.pk,
            type=written.event,
            at=now,
        )
    logged = LOGGED.get(written.outcome)
    if logged is not None:
        extra = {"error": written.error} if written.outcome is not Outcome.SENT else {}
        if written.outcome is Outcome.BOUNCED:
            extra["source"] = "smtp"
        events = [
            sent_event(
                logged, campaign, lead.pk, context.lead.email, account_id=item.account_id,
                step=item.step, message_pk=item.message_id, message_id=message_id, **extra,
            )
        ]  # fmt: skip
        if written.to == transitions.COMPLETED:
            events.append(lead_event("lead.completed", campaign, lead.pk, context.lead.email))
        record_events(events)
    # Hard bounces in a row (API.md §7), last in record()'s lock order: a send ends the row.
    if written.outcome is Outcome.BOUNCED:
        bounce_streak.extend(campaign.pk)
    elif written.outcome is Outcome.SENT:
        bounce_streak.end(campaign.pk)


# The event log's type for each final outcome (a RETRY is not final: no event).
LOGGED = {
    Outcome.SENT: "message.sent",
    Outcome.BOUNCED: "message.bounced",
    Outcome.FAILED: "message.failed",
}


# Handing claims back


def _release(message: Message, when: datetime | None) -> None:
    """Hand a claimed message back, untouched: nothing was attempted."""
    Attempt.objects.filter(message_id=message.pk, at__gte=message.claimed_at).delete()
    if message.attempts:
        Message.objects.filter(pk=message.pk).update(status=Status.RETRY)
    else:
        Message.objects.filter(pk=message.pk).delete()
    Lead.objects.filter(pk=message.lead_id).update(next_send_at=when)


def release(claims: list[Claim], wait_for: SenderAccount | None = None) -> None:
    """Hand claims back untouched (a worker stopping, an account that cannot send). After an
    account's failure (`wait_for`): while it is in ERROR, follow-ups pinned to it wait for its
    re-check and new leads are due now (for the campaign's other accounts); otherwise all wait
    ACCOUNT_RETRY_SECONDS. Everything else is due again now."""
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
                if wait_for is not None and wait_for.status != SenderAccount.Status.ERROR:
                    when = now + timedelta(seconds=settings.ACCOUNT_RETRY_SECONDS)
                elif wait_for is not None and item.step > 1:
                    when = recheck_at(wait_for, now)
                when = Window.of(campaign.schedule).next_open(when)
            _release(message, when)


# After this many failures of the account phase in a row, the account is in ERROR (API.md §7).
ACCOUNT_FAILURES_IN_ROW = 3


def account_failed(account: SenderAccount, error: AccountError) -> None:
    """Count a failure of the account phase: the account waits ACCOUNT_RETRY_SECONDS before it
    is tried again, and is in ERROR (with `last_error`) when the failure says so at once
    (authentication refused, unreachable) or is the third in a row. `account` is updated."""
    now = clock.now()
    with transaction.atomic():
        row = SenderAccount.objects.select_for_update().filter(pk=account.pk).first()
        if row is None:
            return
        failures = row.failures_in_row + 1
        changes = {
            "failures_in_row": failures,
            "last_error": str(error)[:300],
            "next_available_at": now + timedelta(seconds=settings.ACCOUNT_RETRY_SECONDS),
        }
        in_error = error.at_once or failures >= ACCOUNT_FAILURES_IN_ROW
        if in_error and row.status == SenderAccount.Status.ACTIVE:
            changes.update(status=SenderAccount.Status.ERROR, checked_at=now)
            account_moved(row, SenderAccount.Status.ERROR, changes["last_error"])
        SenderAccount.objects.filter(pk=account.pk).update(**changes)
    for name, value in changes.items():
        setattr(account, name, value)
    account.status = changes.get("status", row.status)
    level = logging.WARNING if account.status == SenderAccount.Status.ERROR else logging.INFO
    logger.log(
        level, "sender account %s failed (%s in a row, %s): %s",
        account.pk, failures, account.status, error,
    )  # fmt: skip


def account_sent(account: SenderAccount) -> None:
    """A message went out: the account's failures in a row start again from 0."""
    if account.failures_in_row:
        SenderAccount.objects.filter(pk=account.pk).update(failures_in_row=0, last_error="")
        account.failures_in_row = 0
