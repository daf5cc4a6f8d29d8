"""When a campaign is done: an ACTIVE campaign with at least one lead, none of which has
anything left to send, becomes COMPLETED (campaigns.transitions.complete, actor: the engine)."""

import uuid

from django.db import transaction
from django.db.models import Q

from audit.services import ENGINE
from campaigns import transitions as campaign_transitions
from campaigns.models import Campaign
from delivery.models import Message
from leads import transitions
from leads.models import Lead

IN_FLIGHT = (Message.Status.CLAIMED, Message.Status.SENDING)


def has_work_left(campaign_id: uuid.UUID) -> bool:
    leads = Lead.objects.filter(campaign_id=campaign_id)
    return (
        leads.filter(
            Q(status__in=[transitions.PENDING, transitions.CONTACTED])
            | Q(next_send_at__isnull=False)
        ).exists()
        or Message.objects.filter(
            campaign_id=campaign_id, status__in=[*IN_FLIGHT, Message.Status.RETRY]
        ).exists()
    )


def complete_if_done(campaign_id: uuid.UUID) -> bool:
    """Complete the campaign if every lead is finished; True when it did."""
    with transaction.atomic():
        current = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if current is None or current.status != Campaign.Status.ACTIVE:
            return False
        if not Lead.objects.filter(campaign_id=campaign_id).exists():
            return False
        if has_work_left(campaign_id):
            return False
        return campaign_transitions.complete(current, actor=ENGINE, detail="every lead is finished")
