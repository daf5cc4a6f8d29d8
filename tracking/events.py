"""The one import of EmailEvent in the tracking app (moving it to the engagement app is a
one-line change here), and the event writes the trackers and the inbox reader make."""

import uuid
from datetime import datetime

from django.db.models import OuterRef, Subquery

from campaigns.models import CampaignStep, EmailEvent

Event = EmailEvent.Type


def step_id_of(campaign_id: object, position: object) -> Subquery:
    """The CampaignStep row of a message's step position, as a subquery."""
    return Subquery(
        CampaignStep.objects.filter(campaign_id=campaign_id, position=position).values("pk")[:1]
    )


def message_step_id() -> Subquery:
    """For a queryset of delivery Messages: the id of their CampaignStep."""
    return step_id_of(OuterRef("campaign_id"), OuterRef("step"))


def add_event(
    *,
    campaign_id: uuid.UUID,
    lead_id: uuid.UUID,
    sender_account_id: uuid.UUID | None,
    step_id: int | None,
    type: str,
    at: datetime,
) -> None:
    EmailEvent.objects.create(
        campaign_id=campaign_id,
        lead_id=lead_id,
        sender_account_id=sender_account_id,
        step_id=step_id,
        type=type,
        occurred_at=at,
    )
