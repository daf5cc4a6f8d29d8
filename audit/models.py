from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class AuditEvent(models.Model):
    """One state or key change made by someone: when, what, on which object, and who. Never a
    secret: `actor` is a key's prefix or a username, `extra` holds counts and states only."""

    class ActorType(models.TextChoices):
        API_KEY = "api_key", "API key"
        ADMIN_USER = "admin_user", "admin user"
        COMMAND = "command", "management command"
        ENGINE = "engine", "sending engine"

    class Action(models.TextChoices):
        CAMPAIGN_CREATED = "campaign.created"
        CAMPAIGN_UPDATED = "campaign.updated"
        CAMPAIGN_ACTIVATED = "campaign.activated"
        CAMPAIGN_PAUSED = "campaign.paused"
        CAMPAIGN_COMPLETED = "campaign.completed"
        CAMPAIGN_REACTIVATED = "campaign.reactivated"
        CAMPAIGN_DELETED = "campaign.deleted"
        CAMPAIGN_TEST_SENT = "campaign.test_sent"
        SENDER_ACCOUNT_CREATED = "sender_account.created"
        SENDER_ACCOUNT_UPDATED = "sender_account.updated"
        SENDER_ACCOUNT_DELETED = "sender_account.deleted"
        LEAD_CREATED = "lead.created"
        LEAD_DELETED = "lead.deleted"
        LEAD_ANSWERED = "lead.answered"
        LEADS_IMPORTED = "leads.imported"
        API_KEY_CREATED = "api_key.created"
        API_KEY_REVOKED = "api_key.revoked"
        SUPPRESSION_LIFTED = "suppression.lifted"
        WEBHOOK_CREATED = "webhook.created"
        WEBHOOK_UPDATED = "webhook.updated"
        WEBHOOK_DELETED = "webhook.deleted"
        WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
        WEBHOOK_REPLAYED = "webhook.replayed"
        WEBHOOK_TESTED = "webhook.tested"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Kept when the workspace goes: the trail outlives what it describes.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_type = models.CharField(max_length=12, choices=ActorType.choices)
    actor = models.CharField(max_length=150, help_text="An API key's prefix, or a username.")
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    extra = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-occurred_at"], name="audit_ws_newest"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} by {self.actor}"
