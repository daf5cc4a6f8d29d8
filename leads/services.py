"""Writes (create_lead, delete_lead) and the engagement read for leads."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q

from apikeys.models import Workspace
from audit.services import Action, Actor, record
from campaigns.models import Campaign, EmailEvent
from coldsend.errors import Conflict, ErrorCode, Invalid, NotFound
from leads.models import Lead

CAMPAIGN_NOT_FOUND = "No campaign with this id in your workspace."
DELETABLE_STATUSES = (Lead.Status.PENDING,)


@dataclass(frozen=True)
class Engagement:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied_at: datetime | None = None
    last_contacted_at: datetime | None = None


def create_lead(workspace: Workspace, data: Mapping[str, Any]) -> Lead:
    """Insert one PENDING lead from validated fields (`campaign`, `email`, …); Conflict
    `duplicate` if the (normalised) email is already in the campaign. The unique constraint
    decides, so racing creates cannot both succeed."""
    lead = Lead(workspace=workspace, **data)
    campaign, email = lead.campaign, lead.email
    if campaign.workspace_id != workspace.pk:
        raise ValueError("a lead belongs to its campaign's workspace")
    try:
        with transaction.atomic():  # a savepoint when called inside a transaction
            lead.save(force_insert=True)
    except IntegrityError:
        existing = Lead.objects.filter(campaign=campaign, email=email).values_list("pk", flat=True)
        lead_id = existing.first()
        if lead_id is not None:
            raise Conflict(
                "A lead with this email already exists in this campaign.",
                ErrorCode.DUPLICATE,
                lead_id=str(lead_id),
            ) from None
        if not Campaign.objects.filter(pk=campaign.pk).exists():  # deleted meanwhile
            raise Invalid({"campaign_id": [CAMPAIGN_NOT_FOUND]}) from None
        raise
    lead.engagement = Engagement()
    return lead


def delete_lead(lead: Lead, *, actor: Actor) -> None:
    """Delete a PENDING lead; Conflict `invalid_state` in any other status."""
    with transaction.atomic():
        # Locked first: Django's cascading delete selects the rows and then deletes them by id,
        # so without the lock the status could change between the two statements.
        current = (
            Lead.objects.select_for_update()
            .filter(pk=lead.pk)
            .values_list("status", flat=True)
            .first()
        )
        if current is None:
            raise NotFound
        deleted, _ = Lead.objects.filter(pk=lead.pk, status__in=DELETABLE_STATUSES).delete()
        if deleted:
            extra = {"campaign_id": str(lead.campaign_id)}
            record(actor, Action.LEAD_DELETED, lead, object_id=lead.pk, extra=extra)
    if not deleted:
        raise Conflict(
            f"Only a PENDING lead can be deleted; this lead is {current}.",
            ErrorCode.INVALID_STATE,
            status=current,
            allowed=list(DELETABLE_STATUSES),
        )


def attach_engagement(leads: Sequence[Lead]) -> Sequence[Lead]:
    """Set `lead.engagement` on each lead, with one grouped query for all of them."""
    ids = [lead.pk for lead in leads]
    if not ids:
        return leads
    types = EmailEvent.Type
    rows = (
        EmailEvent.objects.filter(
            lead_id__in=ids, type__in=[types.SENT, types.OPENED, types.CLICKED, types.REPLIED]
        )
        .values("lead_id")
        .annotate(
            sent=Count("id", filter=Q(type=types.SENT)),
            opened=Count("id", filter=Q(type=types.OPENED)),
            clicked=Count("id", filter=Q(type=types.CLICKED)),
            replied_at=Min("occurred_at", filter=Q(type=types.REPLIED)),
            last_contacted_at=Max("occurred_at", filter=Q(type=types.SENT)),
        )
        .order_by()
    )
    by_lead = {row.pop("lead_id"): Engagement(**row) for row in rows}
    for lead in leads:
        lead.engagement = by_lead.get(lead.pk, Engagement())
    return leads
