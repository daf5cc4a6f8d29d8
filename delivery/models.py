"""What the sending engine records: one Message per lead and step, the attempts that count
towards the rolling daily limits."""

from django.db import models

from campaigns.models import Campaign
from coldsend.core.ids import uuid7
from leads.models import Lead
from sender_accounts.models import SenderAccount


class Message(models.Model):
    """One step sent (or attempted) to one lead. Unique (lead, step): the database itself
    refuses a second send of a step."""

    class Status(models.TextChoices):
        CLAIMED = "CLAIMED"  # taken by a worker; nothing sent yet: handed back after the lease
        SENDING = "SENDING"  # the SMTP transaction started: never sent again
        RETRY = "RETRY"  # a temporary failure: tried again at the lead's next_send_at
        SENT = "SENT"
        FAILED = "FAILED"
        BOUNCED = "BOUNCED"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="messages")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    step = models.PositiveSmallIntegerField(help_text="1-based position of the step.")
    sender_account = models.ForeignKey(
        SenderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLAIMED)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_id = models.CharField(max_length=255, blank=True, default="")
    subject = models.TextField(blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="")
    claimed_at = models.DateTimeField()
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["lead", "step"]
        constraints = [
            models.UniqueConstraint(fields=["lead", "step"], name="message_lead_step_unique")
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="message_campaign_status"),
            models.Index(fields=["message_id"], name="message_message_id"),
            models.Index(
                fields=["claimed_at"],
                name="message_in_flight",
                condition=models.Q(status__in=["CLAIMED", "SENDING"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} step {self.step}: {self.status}"

    @property
    def public_status(self) -> str:
        """What `GET leads/{id}/messages` shows: SENT, BOUNCED, or FAILED for an attempt that
        did not go (its `error` says why; a RETRY is tried again later)."""
        if self.status in (self.Status.SENT, self.Status.BOUNCED):
            return self.status
        return self.Status.FAILED


class Attempt(models.Model):
    """One SMTP attempt (or one reserved by a claim): the rolling-24h limits count these. A
    campaign's test send (delivery/actions.py `do_test_send`) has neither message nor campaign:
    it counts in its sender account's limit only."""

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False, null=True, blank=True
    )
    sender_account = models.ForeignKey(
        SenderAccount, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["sender_account", "at"], name="attempt_account_time"),
            models.Index(fields=["campaign", "at"], name="attempt_campaign_time"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.message_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class Answer(models.Model):
    """A plain-text answer to a lead, in its thread (`POST leads/{id}/reply`, API.md §11): sent
    through the engine's gate like a step (QUEUED → CLAIMED → SENDING → SENT or FAILED, never
    sent twice), outside the campaign's window, gap, limit and stats."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED"  # waiting for a worker (or for its account: ERROR, at its limit)
        CLAIMED = (
            "CLAIMED"  # a worker's task holds it; nothing sent yet: queued again after the lease
        )
        SENDING = "SENDING"  # the SMTP transaction started: never sent again
        SENT = "SENT"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="answers")
    sender_account = models.ForeignKey(
        SenderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    subject = models.TextField()
    body = models.TextField()
    message_id = models.CharField(max_length=255)  # made at creation: the thread can cite it
    in_reply_to = models.CharField(max_length=255, blank=True, default="")
    references = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, default="")
    queued_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # QUEUED: not before then
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="answer_queued",
                condition=models.Q(status__in=["QUEUED", "CLAIMED", "SENDING"]),
            ),
            models.Index(fields=["lead", "queued_at"], name="answer_lead_time"),
        ]

    def __str__(self) -> str:
        return f"answer {self.pk} to {self.lead_id} ({self.status})"


class InboundMessage(models.Model):
    """A message that came in for a lead and counts (API.md §11): a reply, an automatic answer
    or a bounce report; its text bounded, attachments never kept."""

    class Kind(models.TextChoices):
        REPLY = "REPLY"
        AUTO_REPLY = "AUTO_REPLY"
        BOUNCE = "BOUNCE"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="inbound_messages")
    account = models.ForeignKey(
        SenderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Ours that it answers (or reports on).
    answers = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    from_address = models.CharField(max_length=320, blank=True, default="")
    subject = models.TextField(blank=True, default="")
    text = models.TextField(blank=True, default="")
    message_id = models.CharField(max_length=300, blank=True, default="")
    in_reply_to = models.CharField(max_length=300, blank=True, default="")
    references = models.TextField(blank=True, default="")
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["lead", "received_at"], name="inbound_lead_time")]

    def __str__(self) -> str:
        return f"{self.kind} from {self.from_address} ({self.received_at:%Y-%m-%d %H:%M})"
