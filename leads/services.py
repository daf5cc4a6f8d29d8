"""Writes to leads: create_lead, delete_lead (a lead's engagement is engagement.selectors)."""

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.exceptions import NotFound, ValidationError

from apikeys.models import Workspace
from campaigns.models import Campaign
from coldsend.api.exceptions import Conflict
from leads.models import Lead

CAMPAIGN_NOT_FOUND = "No campaign with this id in your workspace."
DELETABLE_STATUSES = (Lead.Status.PENDING,)


def create_lead(*, workspace: Workspace, campaign: Campaign, email: str, **fields: Any) -> Lead:
    """Insert one PENDING lead; Conflict `duplicate` if the (normalised) email is already in
    the campaign. The unique constraint decides, so racing creates cannot both succeed."""
    if campaign.workspace_id != workspace.pk:
        raise ValueError("a lead belongs to its campaign's workspace")
    lead = Lead(workspace=workspace, campaign=campaign, email=email, **fields)
    try:
        with transaction.atomic():  # a savepoint when called inside a transaction
            lead.save(force_insert=True)
    except IntegrityError:
        existing = Lead.objects.filter(campaign=campaign, email=email).values_list("pk", flat=True)
        lead_id = existing.first()
        if lead_id is not None:
            raise Conflict(
                "A lead with this email already exists in this campaign.",
                "duplicate",
                lead_id=str(lead_id),
            ) from None
        if not Campaign.objects.filter(pk=campaign.pk).exists():  # deleted meanwhile
            raise ValidationError({"campaign_id": [CAMPAIGN_NOT_FOUND]}) from None
        raise
    return lead


def delete_lead(lead: Lead) -> None:
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
            raise NotFound("Not found.")
        deleted, _ = Lead.objects.filter(pk=lead.pk, status__in=DELETABLE_STATUSES).delete()
    if not deleted:
        raise Conflict(
            f"Only a PENDING lead can be deleted; this lead is {current}.",
            "invalid_state",
            status=current,
            allowed=list(DELETABLE_STATUSES),
        )
