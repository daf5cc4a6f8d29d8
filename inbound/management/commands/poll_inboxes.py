from django.core.management.base import BaseCommand

from inbound.inbox import imap_accounts, poll_account
from sender_accounts.models import SenderAccount


class Command(BaseCommand):
    help = "Read every sender account's inbox once, now (the worker does it every round)."

    def handle(self, *args: object, **options: object) -> None:
        for account in SenderAccount.objects.filter(imap_accounts()):
            seen = poll_account(account)
            self.stdout.write(f"{account.email}: {seen or 'nothing new'}")
