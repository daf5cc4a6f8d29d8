"""Reads of what the inbox reader keeps, for the API's views and the admin (no writes)."""

from inbound.models import InboxState
from sender_accounts.models import SenderAccount


def inbox_status(account: SenderAccount) -> dict | None:
    """`{last_polled_at, skipped, last_error}` of the account's inbox; None without `imap`."""
    if not account.imap_host:
        return None
    state = InboxState.objects.filter(pk=account.pk).first()
    if state is None:
        return {"last_polled_at": None, "skipped": 0, "last_error": ""}
    return {"last_polled_at": state.polled_at, "skipped": state.skipped, "last_error": state.error}
