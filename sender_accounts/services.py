"""Reads and writes of sender accounts that involve other objects (campaigns, events)."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apikeys.models import Workspace
from audit.services import Action, Actor, record
from campaigns.models import Campaign, EmailEvent
from coldsend.errors import Conflict, ErrorCode, NotFound
from sender_accounts.models import SenderAccount

logger = logging.getLogger("sender_accounts")

Event = EmailEvent.Type


def utc_midnight(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def sender_account_stats(account: SenderAccount) -> dict[str, int]:
    """`sent_today` (since 00:00 UTC), `sent_total` and `bounced`, in one aggregate query."""
    return EmailEvent.objects.filter(
        sender_account=account, type__in=[Event.SENT, Event.BOUNCED]
    ).aggregate(
        sent_today=Count("pk", filter=Q(type=Event.SENT, occurred_at__gte=utc_midnight())),
        sent_total=Count("pk", filter=Q(type=Event.SENT)),
        bounced=Count("pk", filter=Q(type=Event.BOUNCED)),
    )


def create_sender_account(workspace: Workspace, data: Mapping[str, Any]) -> SenderAccount:
    """A new sender account from validated fields (the SMTP password is encrypted on save)."""
    return SenderAccount.objects.create(workspace=workspace, **data)


def active_campaign_ids(account: SenderAccount) -> list[str]:
    """The ACTIVE campaigns using the account, only ever from the account's own workspace."""
    return [
        str(pk)
        for pk in Campaign.objects.filter(
            workspace_id=account.workspace_id,
            sender_accounts=account,
            status=Campaign.Status.ACTIVE,
        ).values_list("pk", flat=True)
    ]


def delete_sender_account(account: SenderAccount, *, actor: Actor) -> None:
    """Delete the account unless an ACTIVE campaign uses it (Conflict `in_use`).

    The account row is locked first; campaign activation locks its accounts' rows too, so the
    two serialise and the check below sees any activation that committed before the lock."""
    with transaction.atomic():
        current = (
            SenderAccount.objects.select_for_update()
            .only("pk", "workspace_id", "email")
            .filter(pk=account.pk)
            .first()
        )
        if current is None:
            raise NotFound
        campaigns = active_campaign_ids(current)
        if campaigns:
            raise Conflict(
                "This sender account is used by an active campaign. Pause the campaign "
                "or remove the account from it first.",
                code=ErrorCode.IN_USE,
                campaigns=campaigns,
            )
        record(actor, Action.SENDER_ACCOUNT_DELETED, current, extra={"email": current.email})
        current.delete()
    logger.info("sender account %s deleted", account.pk)
