"""Bounce protection (API.md §7): a campaign whose hard-bounce rate goes over its
max_bounce_rate is paused by the engine, once it has enough attempted messages."""

import logging
import uuid

from django.db import transaction
from django.db.models import Count, Q

from audit.services import ENGINE
from campaigns.models import Campaign
from delivery.actions import do_pause_campaign
from delivery.models import Message
from delivery.records import Event, bounce_streak, event_totals

logger = logging.getLogger("delivery")

BOUNCE_MIN_ATTEMPTED = 20
BOUNCES_IN_ROW = 5  # SMTP hard bounces in a row that pause a campaign whatever its count
Status = Message.Status


def protect_from_bounces(campaign_id: uuid.UUID) -> bool:
    """Pause a campaign after BOUNCES_IN_ROW SMTP hard bounces in a row, or whose hard-bounce
    rate went over its max_bounce_rate once it has at least 20 attempted messages. Cheap when it
    has no bounce (one counter row)."""
    totals = event_totals(campaign_id)
    bounced = totals.get(Event.BOUNCED, 0)
    if not bounced:
        return False
    in_row = bounce_streak.length(campaign_id)
    if in_row >= BOUNCES_IN_ROW:
        return _pause(campaign_id, f"{in_row} hard bounces in a row")
    # A bounce reported later by the inbox (a DSN) is about a message already counted as SENT.
    counts = Message.objects.filter(
        campaign_id=campaign_id, status__in=[Status.FAILED, Status.RETRY, Status.BOUNCED]
    ).aggregate(
        # FAILED by a report read later was SENT (and counted) first.
        unsent=Count(
            "pk", filter=Q(status__in=[Status.FAILED, Status.RETRY], sent_at__isnull=True)
        ),
        reported_later=Count("pk", filter=Q(status=Status.BOUNCED, sent_at__isnull=False)),
    )
    attempted = totals.get(Event.SENT, 0) + bounced - counts["reported_later"] + counts["unsent"]
    campaign = Campaign.objects.filter(pk=campaign_id).only("max_bounce_rate").first()
    if campaign is None or attempted < BOUNCE_MIN_ATTEMPTED:
        return False
    if bounced / attempted <= campaign.max_bounce_rate:
        return False
    return _pause(campaign_id, f"bounce rate {bounced}/{attempted} > {campaign.max_bounce_rate}")


def _pause(campaign_id: uuid.UUID, why: str) -> bool:
    with transaction.atomic():
        current = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if current is None or current.status != Campaign.Status.ACTIVE:
            return False
        # The pause writes the audit row (actor: the engine); the detail goes to the log.
        do_pause_campaign(current, actor=ENGINE, reason=Campaign.PausedReason.BOUNCE_RATE)
    logger.info("campaign %s paused: %s", campaign_id, why)
    return True
