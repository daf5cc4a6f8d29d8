"""Writes of sender accounts (the in-use rule for deletes is the campaigns' own:
campaigns.services.delete_sender_account; its sending stats are
delivery.api_selectors.sender_account_stats)."""

from collections.abc import Mapping
from typing import Any

from apikeys.models import Workspace
from sender_accounts.models import SenderAccount


def create_sender_account(workspace: Workspace, data: Mapping[str, Any]) -> SenderAccount:
    """A new sender account from validated fields (the SMTP password is encrypted on save)."""
    return SenderAccount.objects.create(workspace=workspace, **data)
