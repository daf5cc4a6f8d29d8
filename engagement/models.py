"""What happened to each message (events), the running totals kept over them, and the
addresses a workspace never sends to again (suppressions).

The tables keep the names they had in `campaigns` (db_table): the counter triggers name them as
text (engagement/sql/)."""

from django.db import models

from campaigns.models import Campaign, CampaignStep
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace


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
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    sender_account = models.ForeignKey(
        SenderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    step = models.ForeignKey(
        CampaignStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    type = models.CharField(max_length=12, choices=Type.choices)
    occurred_at = models.DateTimeField()

    class Meta:
        db_table = "campaigns_emailevent"  # named by the trigger functions: never rename
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
    (events of that type). Kept exact by database triggers on leads and events (engagement/sql/),
    so every writer counts, raw SQL included; `stats` reads these rows instead of counting."""

    pk = models.CompositePrimaryKey("campaign_id", "key")
    # No database constraint: the triggers still write while a campaign's rows are being
    # deleted; a trigger on the campaign removes its counters.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    key = models.CharField(max_length=32)
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "campaigns_campaigncounter"

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

    class Meta:
        db_table = "campaigns_campaigneventslot"

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.slot:%Y-%m-%d %H:%M}: {self.sent} sent"


class LeadFirstEvent(models.Model):
    """A lead that has at least one event of a type in a campaign, kept by database triggers
    on events (engagement/sql/distinct_leads.*): inserted once per (campaign, lead, type), it
    counts the campaign's leads with at least one event of that type (`leads:<type>` counters),
    which the rates divide."""

    pk = models.CompositePrimaryKey("campaign_id", "lead_id", "type")
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    type = models.CharField(max_length=12)
    first_at = models.DateTimeField(help_text="When the lead's first event of the type occurred.")
    # No database constraint, as for the counters; a trigger on the campaign removes its rows.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        db_table = "campaigns_leadfirstevent"  # named by the trigger functions: never rename

    def __str__(self) -> str:
        return f"{self.lead_id} first {self.type}"


class Suppression(models.Model):
    """An address no campaign of the workspace ever sends to again."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "UNSUBSCRIBED"
        BOUNCED = "BOUNCED"

    class Source(models.TextChoices):
        """What wrote it: the reason says why, the source how we learnt it."""

        UNSUBSCRIBE_LINK = "unsubscribe_link", "unsubscribe link"
        SMTP_BOUNCE = "smtp_bounce", "refused at sending (SMTP)"
        BOUNCE_REPORT = "bounce_report", "bounce report (inbox)"
        UNKNOWN = "unknown", "not recorded"

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.UNKNOWN)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "delivery_suppression"  # kept from when delivery held it
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"], name="suppression_unique_per_workspace"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
