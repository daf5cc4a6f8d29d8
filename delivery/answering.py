"""Answers to a lead, in its thread (API.md §11): what `POST leads/{id}/reply` queues and the
engine sends. Each worker round queues a task per due answer (claimed, so one worker takes
it); the task passes the gate (CLAIMED → SENDING, committed: never sent twice), sends one
plain-text message with In-Reply-To and References, and records SENT or FAILED with its event.
Answers go out whatever the campaign's status, outside its window and gap; they count in the
account's rolling daily limit (an Attempt row) and in its `sent_total`, never in the
campaign's stats, rates or limit, and they never move the lead. While the account is in ERROR,
DISABLED or at its limit, an answer stays QUEUED."""

import logging
import re
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from django.conf import settings
from django.db import transaction

from coldsend.core import clock
from delivery.building import POLICY, ascii_address, domain_of, header_text
from delivery.models import Answer, Attempt, InboundMessage, Message
from delivery.records import sent_event
from delivery.transport import AccountError, Bounce, Refused, TemporaryFailure, open_session
from engagement.models import Suppression
from events.services import record_events
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")

Status = Answer.Status
DAY = timedelta(hours=24)
LIMIT_WAIT = timedelta(minutes=5)  # an account at its limit: look again then
QUEUE_BATCH = 50
RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """The thread's subject with exactly one `Re: `."""
    return "Re: " + RE_PREFIX.sub("", header_text(subject))


def thread_of(lead: Lead) -> tuple[str, str, str] | None:
    """(In-Reply-To, References, subject) of an answer to the lead: in reply to its latest
    inbound REPLY, else to our latest outbound message (RFC 5322 §3.6.4: References is the
    parent's References plus the parent's id). None when nothing was ever sent to the lead."""
    reply = (
        InboundMessage.objects.filter(lead=lead, kind=InboundMessage.Kind.REPLY)
        .exclude(message_id="")
        .order_by("-received_at", "-id")
        .first()
    )
    if reply is not None:
        # A parent without References: its In-Reply-To stands for them (RFC 5322 §3.6.4).
        refs = [*(reply.references.split() or reply.in_reply_to.split()), reply.message_id]
        return reply.message_id, " ".join(dict.fromkeys(refs)), reply_subject(reply.subject)
    sent = list(
        Message.objects.filter(lead=lead, sent_at__isnull=False)
        .order_by("step")
        .values_list("message_id", "subject", "sent_at")
    )
    answer = (
        Answer.objects.filter(lead=lead, status=Status.SENT)
        .order_by("-sent_at")
        .values_list("message_id", "subject", "sent_at", "references")
        .first()
    )
    if answer is not None and (not sent or answer[2] >= sent[-1][2]):
        refs = [*answer[3].split(), answer[0]]
        return answer[0], " ".join(dict.fromkeys(refs)), reply_subject(answer[1])
    if not sent:
        return None
    first_subject = sent[0][1]
    return sent[-1][0], " ".join(m for m, _, _ in sent), reply_subject(first_subject)


def new_message_id(account: SenderAccount) -> str:
    return make_msgid(domain=domain_of(ascii_address(account.email)))


def build(answer: Answer, account: SenderAccount, lead: Lead) -> EmailMessage:
    """One person writing to another: plain text, no unsubscribe line or header, no tracking."""
    email = EmailMessage(policy=POLICY)
    email["From"] = formataddr((header_text(account.display_name), ascii_address(account.email)))
    email["To"] = ascii_address(lead.email)
    email["Subject"] = header_text(answer.subject)
    email["Date"] = format_datetime(clock.now())
    email["Message-ID"] = answer.message_id
    if answer.in_reply_to:
        email["In-Reply-To"] = answer.in_reply_to
    if answer.references:
        email["References"] = answer.references
    short = all(len(line.encode()) <= 990 for line in answer.body.splitlines())
    email.set_content(answer.body, charset="utf-8", cte="8bit" if short else "quoted-printable")
    return email


def queue_due(now: datetime | None = None) -> list[uuid.UUID]:
    """Claim the answers due now whose account may send, and queue a task for each (a worker
    round calls this); answers a worker died with are queued again or, once their SMTP
    transaction had started, FAILED "interrupted"."""
    from delivery.tasks import enqueue_answer

    now = now or clock.now()
    _recover(now)
    due = (
        Answer.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now)
        .filter(sender_account__status=SenderAccount.Status.ACTIVE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:QUEUE_BATCH]
    )
    claimed = []
    for pk in list(due):
        if Answer.objects.filter(pk=pk, status=Status.QUEUED).update(
            status=Status.CLAIMED, claimed_at=now
        ):
            claimed.append(pk)
    for pk in claimed:
        try:
            enqueue_answer(pk)
        except Exception:  # the queue's Redis down: it is queued again after the lease
            logger.exception("answers: queueing answer %s failed", pk)
    return claimed


def _recover(now: datetime) -> None:
    lease = timedelta(seconds=settings.SEND_CLAIM_LEASE_SECONDS)
    Answer.objects.filter(status=Status.CLAIMED, claimed_at__lt=now - lease).update(
        status=Status.QUEUED, claimed_at=None
    )
    for pk in Answer.objects.filter(
        status=Status.SENDING, attempted_at__lt=now - lease
    ).values_list("pk", flat=True):
        with transaction.atomic():
            if Answer.objects.filter(pk=pk, status=Status.SENDING).update(
                status=Status.FAILED, error="interrupted"
            ):
                _log(Answer.objects.get(pk=pk), "message.failed", error="interrupted")


def _gate(pk: uuid.UUID) -> tuple[Answer, SenderAccount] | None:
    """CLAIMED → SENDING with an Attempt reserved, committed; None (and the answer QUEUED again,
    or FAILED for a suppressed address) when it may not go now."""
    now = clock.now()
    with transaction.atomic():
        answer = Answer.objects.select_for_update().filter(pk=pk, status=Status.CLAIMED).first()
        if answer is None:
            return None
        lead = Lead.objects.filter(pk=answer.lead_id).only("pk", "email", "workspace_id").first()
        # Locked, as the engine's claim locks it: the rolling limit is counted by one at a time.
        account = (
            SenderAccount.objects.select_for_update().filter(pk=answer.sender_account_id).first()
        )
        if lead is None or account is None:
            answer.status, answer.error = Status.FAILED, "the lead or its account is gone"
            answer.save(update_fields=["status", "error"])
            return None
        if Suppression.objects.filter(workspace_id=lead.workspace_id, email=lead.email).exists():
            answer.status, answer.error = Status.FAILED, "the address is suppressed"
            answer.save(update_fields=["status", "error"])
            _log(answer, "message.failed", error=answer.error)
            return None
        used = Attempt.objects.filter(sender_account=account, at__gt=now - DAY).count()
        if account.status != SenderAccount.Status.ACTIVE or used >= account.daily_limit:
            answer.status, answer.claimed_at = Status.QUEUED, None
            answer.next_attempt_at = now + LIMIT_WAIT
            answer.save(update_fields=["status", "claimed_at", "next_attempt_at"])
            return None
        Attempt.objects.create(sender_account=account, at=now)
        answer.status, answer.attempted_at = Status.SENDING, now
        answer.attempts += 1
        answer.save(update_fields=["status", "attempted_at", "attempts"])
    return answer, account


def send_answer(pk: uuid.UUID) -> str:
    """Gate, send and record one claimed answer; its status after."""
    from delivery.send import account_failed, account_sent

    gated = _gate(pk)
    if gated is None:
        return Answer.objects.filter(pk=pk).values_list("status", flat=True).first() or "GONE"
    answer, account = gated
    lead = Lead.objects.get(pk=answer.lead_id)
    failure: Exception | None = None
    try:
        session = open_session(account)
        try:
            session.begin(ascii_address(account.email))
            session.finish(ascii_address(lead.email), build(answer, account, lead))
        finally:
            session.close()
    except AccountError as exc:
        # Nothing reached the lead: the answer waits for its account (the attempt stays
        # counted, as a step's does).
        account_failed(account, exc)
        Answer.objects.filter(pk=pk, status=Status.SENDING).update(
            status=Status.QUEUED,
            claimed_at=None,
            next_attempt_at=clock.now() + timedelta(seconds=settings.ACCOUNT_RETRY_SECONDS),
            error=str(exc)[:300],
        )
        return Status.QUEUED
    except (Bounce, Refused, TemporaryFailure) as exc:
        failure = exc
    return _record(answer, account, failure, account_sent)


def _record(
    answer: Answer, account: SenderAccount, failure: Exception | None, account_sent: object
) -> str:
    now = clock.now()
    with transaction.atomic():
        # Still ours: one the recovery FAILED as interrupted meanwhile is left as it is.
        mine = Answer.objects.select_for_update().filter(pk=answer.pk, status=Status.SENDING)
        if not mine.exists():
            return Answer.objects.filter(pk=answer.pk).values_list("status", flat=True).first()
        if failure is None:
            answer.status, answer.sent_at, answer.error = Status.SENT, now, ""
            _log(answer, "message.sent")
        elif isinstance(failure, TemporaryFailure) and answer.attempts < settings.SEND_MAX_ATTEMPTS:
            answer.status, answer.claimed_at, answer.error = Status.QUEUED, None, str(failure)
            backoff = settings.SEND_RETRY_BACKOFF_SECONDS * 2 ** (answer.attempts - 1)
            answer.next_attempt_at = now + timedelta(seconds=backoff)
        else:
            answer.status, answer.error = Status.FAILED, str(failure)[:300]
            _log(answer, "message.failed", error=answer.error)
        answer.save()
    if failure is None:
        account_sent(account)
    return answer.status


def _log(answer: Answer, type: str, **extra: object) -> None:
    """message.sent / message.failed of an answer (message_kind ANSWER, step null)."""
    lead = Lead.objects.select_related("campaign").filter(pk=answer.lead_id).first()
    if lead is None:
        return
    record_events(
        [
            sent_event(
                type, lead.campaign, lead.pk, lead.email, account_id=answer.sender_account_id,
                step=None, message_pk=answer.pk, message_id=answer.message_id, **extra,
            )
        ]
    )  # fmt: skip
