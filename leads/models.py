from django.db import models

from campaigns.models import Campaign
from coldsend.core.ids import uuid7
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace, WorkspaceQuerySet


class Lead(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        CONTACTED = "CONTACTED"
        REPLIED = "REPLIED"
        BOUNCED = "BOUNCED"
        UNSUBSCRIBED = "UNSUBSCRIBED"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"

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
    # Delivery state (API.md §7), written by the sending engine (delivery/).
    # db_default too: the importer's INSERT … SELECT names its columns.
    current_step = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="The last step sent (1-based); 0 before the first send."
    )
    next_send_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The earliest instant the next step may go; null when nothing is due.",
    )
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # Pinned at the first send, so the whole thread comes from one mailbox.
    sender_account = models.ForeignKey(
        SenderAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

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
            # The engine's due query: only scheduled leads are in these (partial) indexes.
            models.Index(
                fields=["next_send_at"],
                name="lead_due",
                condition=models.Q(next_send_at__isnull=False),
            ),
            models.Index(
                fields=["campaign", "next_send_at"],
                name="lead_due_new",
                condition=models.Q(next_send_at__isnull=False, current_step=0),
            ),
            models.Index(
                fields=["campaign", "next_send_at"],
                name="lead_due_followup",
                condition=models.Q(next_send_at__isnull=False, current_step__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return self.email
