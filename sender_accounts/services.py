"""Writes of sender accounts (the in-use rule for deletes is the campaigns' own:
campaigns.services.delete_sender_account; its sending stats are
delivery.api_selectors.sender_account_stats)."""

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from audit.services import Action, Actor, record
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace


def create_sender_account(
    workspace: Workspace, data: Mapping[str, Any], *, actor: Actor
) -> SenderAccount:
    """A new sender account from validated fields (the SMTP password is encrypted on save)."""
    with transaction.atomic():
        account = SenderAccount.objects.create(workspace=workspace, **data)
        record(actor, Action.SENDER_ACCOUNT_CREATED, account, extra={"email": account.email})
    return account
