"""What a worker does before it claims: claims left past their lease (a worker that died)
handed back or failed, never sent twice; accounts in ERROR tried again when their re-check is
due."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from campaigns.models import Campaign
from coldsend.core import clock
from delivery.claim import PUSH_MAX
from delivery.claimed import Claim
from delivery.completion import complete_if_done
from delivery.models import Message
from delivery.records import account_moved, record_message_event
from delivery.rescheduling import schedule_campaign
from delivery.send import release
from delivery.transport import AccountError, open_session
from leads import transitions
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("delivery")

Status = Message.Status


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
            record_message_event("message.failed", message.pk, error="interrupted")
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
    return check_account(account).ok


@dataclass(frozen=True)
class Checked:
    ok: bool
    detail: str


def check_account(account: SenderAccount, deadline_seconds: float | None = None) -> Checked:
    """Connect and log in now, sending nothing (API.md §7 recovery, and `POST
    sender_accounts/{id}/check`), then record the outcome (record_check)."""
    checked = try_account(account, deadline_seconds)
    record_check(account, checked)
    return checked


def try_account(account: SenderAccount, deadline_seconds: float | None = None) -> Checked:
    """Connect and log in, sending nothing; no database access (it may run in a thread)."""
    try:
        open_session(account, deadline_seconds=deadline_seconds).close()
    except AccountError as exc:
        return Checked(False, str(exc))
    return Checked(True, "Connected and logged in." if _logs_in(account) else "Connected.")


def record_check(account: SenderAccount, checked: Checked) -> None:
    """An account in ERROR that passed is ACTIVE again and its waiting leads are due at once;
    an ACTIVE one that failed is in ERROR; a DISABLED one stays DISABLED. A pass starts the
    failures in a row again. `account` is updated."""
    if not checked.ok:
        _check_failed(account, checked.detail)
    elif _check_passed(account):
        logger.info("sender account %s is ACTIVE again", account.pk)
        _due_again(account)


def _logs_in(account: SenderAccount) -> bool:
    if account.type == SenderAccount.Type.NATIVE:
        return bool(settings.EMAIL_HOST_USER)
    return bool(account.smtp_username)


def _check_failed(account: SenderAccount, error: str) -> None:
    now = clock.now()
    changes = {"last_error": error[:300], "checked_at": now}
    with transaction.atomic():
        row = SenderAccount.objects.select_for_update().filter(pk=account.pk).first()
        if row is None:
            return
        if row.status == SenderAccount.Status.ACTIVE:
            changes["status"] = SenderAccount.Status.ERROR
            account_moved(row, SenderAccount.Status.ERROR, changes["last_error"])
        SenderAccount.objects.filter(pk=account.pk).update(**changes)
    account.status = changes.get("status", row.status)
    account.last_error, account.checked_at = changes["last_error"], now


def _check_passed(account: SenderAccount) -> bool:
    """The failures in a row start again; True when that took the account out of ERROR."""
    now = clock.now()
    changes = {"last_error": "", "checked_at": now, "failures_in_row": 0}
    with transaction.atomic():
        row = SenderAccount.objects.select_for_update().filter(pk=account.pk).first()
        if row is None:
            return False
        recovered = row.status == SenderAccount.Status.ERROR
        if recovered:
            changes.update(status=SenderAccount.Status.ACTIVE, next_available_at=None)
            account_moved(row, SenderAccount.Status.ACTIVE, "")
        SenderAccount.objects.filter(pk=account.pk).update(**changes)
    for name, value in changes.items():
        setattr(account, name, value)
    account.status = changes.get("status", row.status)
    return recovered


def _due_again(account: SenderAccount) -> None:
    """The leads that waited for the account are due again now (no extra wait): each ACTIVE
    campaign using it is scheduled again from its leads' own times."""
    campaigns = Campaign.objects.filter(
        status=Campaign.Status.ACTIVE, sender_accounts=account
    ).values_list("pk", flat=True)
    for campaign_id in list(campaigns):
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is not None:
            schedule_campaign(campaign)
