"""Reads and writes of sender accounts that involve other objects (campaigns, events)."""

import logging

from django.db import transaction
from django.http import Http404

from campaigns.models import Campaign
from coldsend.api.exceptions import Conflict
from sender_accounts.models import SenderAccount

logger = logging.getLogger("sender_accounts")


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


def delete_sender_account(account: SenderAccount) -> None:
    """Delete the account unless an ACTIVE campaign uses it (Conflict `in_use`).

    The account row is locked first; campaign activation locks its accounts' rows too, so the
    two serialise and the check below sees any activation that committed before the lock."""
    with transaction.atomic():
        current = (
            SenderAccount.objects.select_for_update()
            .only("pk", "workspace_id")
            .filter(pk=account.pk)
            .first()
        )
        if current is None:
            raise Http404
        campaigns = active_campaign_ids(current)
        if campaigns:
            raise Conflict(
                "This sender account is used by an active campaign. Pause the campaign "
                "or remove the account from it first.",
                code="in_use",
                campaigns=campaigns,
            )
        current.delete()
    logger.info("sender account %s deleted", account.pk)
