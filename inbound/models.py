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
    # While a poll runs (its deadline, at most): no second poll of the inbox starts, so a slow
    # server holds one task worker, never several.
    busy_until = models.DateTimeField(null=True, blank=True)
    skipped = models.PositiveIntegerField(
        default=0, help_text="Messages that could not be read (logged) and were passed over."
    )

    class Meta:
        db_table = "tracking_inboxstate"  # kept from the app's former name, `tracking`

    def __str__(self) -> str:
        return f"{self.account_id} up to UID {self.last_uid}"


class ReadMail(models.Model):
    """A message of an inbox already classified, by its Message-ID (or a digest of its bytes):
    read again after a UIDVALIDITY change or a crash, it counts no second time."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(SenderAccount, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=300)
    read_at = models.DateTimeField()

    class Meta:
        db_table = "tracking_readmail"
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="read_mail_once_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.key}"
