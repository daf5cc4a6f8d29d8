from django.db import models

from apikeys.models import Workspace, WorkspaceQuerySet
from campaigns.models import Campaign
from coldsend.ids import uuid7


class Lead(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        CONTACTED = "CONTACTED"
        REPLIED = "REPLIED"
        BOUNCED = "BOUNCED"
        UNSUBSCRIBED = "UNSUBSCRIBED"
        COMPLETED = "COMPLETED"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # The campaign's workspace, kept on the row so isolation and lists need no join.
    # No single-column FK indexes: the composite indexes below lead with these columns, and
    # every extra index slows bulk imports.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="leads", db_index=False
    )
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=200, blank=True, default="")
    last_name = models.CharField(max_length=200, blank=True, default="")
    company = models.CharField(max_length=200, blank=True, default="")
    custom_fields = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "email"], name="lead_email_unique_per_campaign"
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="lead_ws_newest"),
            models.Index(fields=["campaign", "-id"], name="lead_campaign_newest"),
            models.Index(fields=["campaign", "status", "-id"], name="lead_campaign_status_newest"),
            models.Index(fields=["workspace", "email"], name="lead_ws_email"),
        ]

    def __str__(self) -> str:
        return self.email
