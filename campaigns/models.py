from django.db import models

from coldsend.core.ids import uuid7
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace, WorkspaceQuerySet


def default_schedule() -> dict:
    return {"timezone": "UTC", "days": [1, 2, 3, 4, 5], "start_time": "09:00", "end_time": "17:00"}


def default_tracking() -> dict:
    return {"opens": False, "clicks": False}


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT"
        ACTIVE = "ACTIVE"
        PAUSED = "PAUSED"
        COMPLETED = "COMPLETED"

    class PausedReason(models.TextChoices):
        USER = "user"
        BOUNCE_RATE = "bounce_rate"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    sender_accounts = models.ManyToManyField(SenderAccount, blank=True, related_name="campaigns")
    daily_limit = models.PositiveIntegerField(default=50)
    schedule = models.JSONField(default=default_schedule)
    stop_on_reply = models.BooleanField(default=True)
    include_unsubscribe_link = models.BooleanField(default=True)
    tracking = models.JSONField(default=default_tracking)
    max_bounce_rate = models.FloatField(default=0.05)
    # Null (not "") when not paused, as the API shows it.
    paused_reason = models.CharField(  # noqa: DJ001
        max_length=20, choices=PausedReason.choices, null=True, blank=True, default=None
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="campaign_ws_newest"),
            models.Index(fields=["workspace", "status", "-id"], name="campaign_ws_status_newest"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStep(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    subject = models.CharField(max_length=998)
    body = models.TextField()
    delay_days = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        return f"Step {self.position}"
