"""What a worker does before it claims: claims left past their lease (a worker that died)
handed back or failed, never sent twice; accounts in ERROR tried again when their re-check is
due."""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from coldsend.core import clock
from delivery.claim import PUSH_MAX
from delivery.claimed import Claim
from delivery.completion import complete_if_done
from delivery.models import Message
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
