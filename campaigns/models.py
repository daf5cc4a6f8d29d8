from django.db import models

from apikeys.models import Workspace
from coldsend.ids import uuid7
from sender_accounts.models import SenderAccount


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
        return f"{self.campaign_id} step {self.position}"


class EmailEvent(models.Model):
    """One thing that happened to one email: written by the sender engine and the trackers;
    `stats` and analytics are aggregates over these rows."""

    class Type(models.TextChoices):
        SENT = "SENT"
        OPENED = "OPENED"
        CLICKED = "CLICKED"
        REPLIED = "REPLIED"
        BOUNCED = "BOUNCED"
        UNSUBSCRIBED = "UNSUBSCRIBED"
        AUTO_REPLIED = "AUTO_REPLIED"

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="events")
    sender_account = models.ForeignKey(
        SenderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    step = models.ForeignKey(
        CampaignStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    type = models.CharField(max_length=12, choices=Type.choices)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["campaign", "type", "occurred_at"], name="event_campaign_type_time"
            ),
            models.Index(fields=["lead", "type"], name="event_lead_type"),
            models.Index(
                fields=["sender_account", "type", "occurred_at"], name="event_sender_type_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.lead_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class CampaignCounter(models.Model):
    """A running total of one campaign: `lead:<status>` (leads in that status) or `event:<type>`
    (events of that type). Kept exact by database triggers on leads and events (migration 0003),
    so every writer counts, raw SQL included; `stats` reads these rows instead of counting."""

    pk = models.CompositePrimaryKey("campaign_id", "key")
    # No database constraint: the triggers still write while a campaign's rows are being
    # deleted; a trigger on the campaign removes its counters.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    key = models.CharField(max_length=32)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.key} = {self.value}"


class CampaignEventSlot(models.Model):
    """A campaign's events of one 15-minute slot (UTC), by type, kept by the same triggers.
    Every time zone in use today starts its days on a quarter hour, so the analytics add up
    slots into the days of the campaign's time zone exactly."""

    MINUTES = 15

    pk = models.CompositePrimaryKey("campaign_id", "slot")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    slot = models.DateTimeField(help_text="The start of the slot, UTC.")
    sent = models.BigIntegerField(default=0)
    opened = models.BigIntegerField(default=0)
    clicked = models.BigIntegerField(default=0)
    replied = models.BigIntegerField(default=0)
    bounced = models.BigIntegerField(default=0)
    unsubscribed = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.slot:%Y-%m-%d %H:%M}: {self.sent} sent"


class LeadFirstEvent(models.Model):
    """A lead that has at least one event of a type in a campaign, kept by database triggers
    on events (migration 0005): inserted once per (campaign, lead, type), it counts the
    campaign's leads with at least one event of that type (`leads:<type>` counters), which the
    rates divide."""

    pk = models.CompositePrimaryKey("campaign_id", "lead_id", "type")
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    type = models.CharField(max_length=12)
    first_at = models.DateTimeField(help_text="When the lead's first event of the type occurred.")
    # No database constraint, as for the counters; a trigger on the campaign removes its rows.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.lead_id} first {self.type}"
