"""`POST sender_accounts/{id}/check` (API.md §7): connect now, SMTP and (when set) IMAP at once,
each within CONNECTION_CHECK_SECONDS, sending nothing; at most CONNECTION_CHECKS_PER_WORKSPACE
checks or test sends at once per workspace. The SMTP outcome moves the account's status (as
the engine's own re-check does); an IMAP failure only shows."""

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

from django.conf import settings

from coldsend.core.deadline import Deadline
from delivery.recovery import Checked, record_check, try_account
from inbound.inbox import InboxError, _close, connect
from sender_accounts.models import SenderAccount
from workspaces import slots

logger = logging.getLogger("inbound")

SLOT_KIND = "connection"  # shared with campaigns' test sends


@dataclass(frozen=True)
class CheckResult:
    status: str
    last_error: str
    smtp: Checked
    imap: Checked | None


def connection_slot(account: SenderAccount) -> AbstractContextManager[None]:
    """One of the workspace's places for a check or a test send (slots.NoSlot: all taken)."""
    return slots.hold(
        account.workspace_id,
        SLOT_KIND,
        limit=settings.CONNECTION_CHECKS_PER_WORKSPACE,
        seconds=settings.CONNECTION_CHECK_SECONDS + 5,
    )


def try_inbox(account: SenderAccount, seconds: float) -> Checked:
    """Log in to the account's inbox and out again, reading nothing."""
    with Deadline(seconds) as deadline:
        try:
            client = connect(account, deadline)
        except InboxError as exc:
            return Checked(False, str(exc))
        _close(client)
    return Checked(True, "Logged in.")


def do_check_sender_account(account: SenderAccount) -> CheckResult:
    """Check the account's servers now (SMTP in a thread beside IMAP: the whole check takes at
    most CONNECTION_CHECK_SECONDS) and record the SMTP outcome. slots.NoSlot when the workspace
    already runs its limit of checks."""
    account = SenderAccount.objects.get(pk=account.pk)  # with its secrets, read here
    seconds = settings.CONNECTION_CHECK_SECONDS
    with connection_slot(account), ThreadPoolExecutor(1) as pool:
        smtp_check = pool.submit(try_account, account, seconds)
        imap = try_inbox(account, seconds) if account.imap_host else None
        smtp = smtp_check.result()
    record_check(account, smtp)
    logger.info("sender account %s checked: smtp %s, imap %s", account.pk, smtp.ok, imap)
    return CheckResult(account.status, account.last_error, smtp, imap)
