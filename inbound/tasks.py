"""Inbox polls as Tasks API tasks: one-off work that may be lost and done again next round."""

import uuid

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


@task()
def poll_inbox_task(account_id: str) -> dict[str, int]:
    from inbound.inbox import imap_accounts, poll_account
    from sender_accounts.models import SenderAccount

    account = SenderAccount.objects.filter(imap_accounts(), pk=uuid.UUID(account_id)).first()
    return poll_account(account) if account is not None else {}
