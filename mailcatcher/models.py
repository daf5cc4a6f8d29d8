from django.db import models
from django.utils import timezone


class CaughtMail(models.Model):
    """One message the local mail catcher accepted: the envelope, a few headers to list it by,
    and the message as received (at most MAIL_CATCHER_MAX_BYTES). Never delivered onward."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    mail_from = models.CharField("from", max_length=998, blank=True)  # the envelope's MAIL FROM
    rcpt_tos = models.JSONField("to", default=list)  # the envelope's RCPT TO addresses
    subject = models.CharField(max_length=998, blank=True)
    message_id = models.CharField("Message-ID", max_length=998, blank=True)
    size = models.PositiveIntegerField(default=0)  # bytes of `raw`
    raw = models.BinaryField()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "caught mail"
        verbose_name_plural = "caught mail"

    def __str__(self) -> str:
        return self.subject or f"(no subject) #{self.pk}"
