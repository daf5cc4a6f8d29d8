"""Writes to leads: create_lead, delete_lead (a lead's engagement is engagement.selectors)."""

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import Action, Actor, record
from campaigns.models import Campaign
from coldsend.core.errors import Conflict, ErrorCode, Invalid, NotFound
from leads.models import Lead
from leads.transitions import DELETABLE
from workspaces.models import Workspace

CAMPAIGN_NOT_FOUND = "No campaign with this id in your workspace."


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
        deleted, _ = Lead.objects.filter(pk=lead.pk, status__in=DELETABLE).delete()
        if deleted:
            extra = {"campaign_id": str(lead.campaign_id)}
            record(actor, Action.LEAD_DELETED, lead, object_id=lead.pk, extra=extra)
    if not deleted:
        raise Conflict(
            f"Only a PENDING lead can be deleted; this lead is {current}.",
            ErrorCode.INVALID_STATE,
            status=current,
            allowed=list(DELETABLE),
        )
