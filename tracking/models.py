from django.db import models

from sender_accounts.models import SenderAccount


class InboxState(models.Model):
    """Where the inbox reader stopped in one sender account's INBOX: messages with a UID above
    `last_uid` are new, as long as the folder's UIDVALIDITY is the one remembered."""

    account = models.OneToOneField(
        SenderAccount, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    polled_at = models.DateTimeField(null=True, blank=True, help_text="Last poll started.")
    error = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.account_id} up to UID {self.last_uid}"
