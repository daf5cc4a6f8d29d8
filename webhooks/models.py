"""Webhook endpoints, one delivery row per (event, endpoint) — the outbox — and
the log of every attempt (API.md §10)."""

from django.db import models

from coldsend.core.ids import uuid7
from events.models import Event
from sender_accounts.fields import EncryptedTextField
from workspaces.models import Workspace, WorkspaceQuerySet


class WebhookEndpoint(models.Model):
    class DisabledReason(models.TextChoices):
        FAILING = "failing"  # no success for 5 days while attempts failed
        GONE = "gone"  # the endpoint answered 410
        CAMPAIGN_DELETED = "campaign_deleted"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list)  # type names, or ["*"]
    # Not a foreign key: the campaign's delete disables the endpoint (signals.py) rather than
    # deleting it or widening it to every campaign.
    campaign_id = models.UUIDField(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(  # noqa: DJ001 (null: enabled, or disabled by hand)
        max_length=20, choices=DisabledReason.choices, null=True, blank=True
    )
    secret = EncryptedTextField()
    # After a rotation, until previous_expires_at, every delivery is signed with both.
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    # Events recorded before this (its creation, or its last re-enabling) are not its own: what
    # it missed while disabled is only sent again by a replay.
    enabled_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)  # first failure after a success
    # A delivery task for the endpoint is queued or running until then (one at a time).
    hurried_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["workspace", "-id"], name="webhook_workspace_newest")]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str, campaign_id: object) -> bool:
        """Whether an event of `event_type` about `campaign_id` is for this endpoint."""
        if event_type == "webhook.test":
            return False
        if "*" not in self.event_types and event_type not in self.event_types:
            return False
        if self.campaign_id is None:
            return True
        return campaign_id is not None and str(campaign_id) == str(self.campaign_id)


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"  # due at next_attempt_at
        DELIVERED = "DELIVERED"
        FAILED = "FAILED"  # its retries ran out, or its endpoint was disabled

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)  # a worker holds it until then
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_event_endpoint")
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="PENDING"),
            ),
            models.Index(fields=["created_at"], name="delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST to an endpoint: what `GET webhooks/{id}/deliveries` lists."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # null: no error (an answer came) / no answer at all, as the API shows them
    error = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001
    response_body = models.TextField(null=True, blank=True)  # noqa: DJ001 (its first 1 KB)
    duration_ms = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="attempt_endpoint_newest"),
            models.Index(fields=["attempted_at"], name="webhook_attempt_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.attempt} → {self.status_code or self.error}"
