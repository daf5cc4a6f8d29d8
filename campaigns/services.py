"""Writes to a campaign's settings (never its status: that is campaigns.transitions)."""

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from rest_framework.exceptions import ValidationError

from apikeys.models import Workspace
from campaigns.models import Campaign, CampaignStep
from campaigns.transitions import locked
from coldsend.api.exceptions import Conflict
from sender_accounts.models import SenderAccount


def _set_sender_accounts(campaign: Campaign, ids: Sequence[uuid.UUID]) -> None:
    # Locked so that a concurrent sender-account delete either finishes first (and the id is
    # refused here) or waits and then sees the campaign using the account.
    found = set(
        SenderAccount.objects.select_for_update()
        .filter(workspace_id=campaign.workspace_id, pk__in=ids)
        .values_list("pk", flat=True)
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationError(
            {"sender_account_ids": [f"Sender account {i} does not exist." for i in missing]}
        )
    campaign.sender_accounts.set(ids)


def _set_steps(campaign: Campaign, steps: Sequence[dict[str, Any]]) -> None:
    """Replace the steps by position, updating rows in place so a position keeps its step id
    (the events already sent for it keep pointing at it)."""
    existing = {s.position: s for s in CampaignStep.objects.filter(campaign=campaign)}
    changed, new = [], []
    for position, data in enumerate(steps, start=1):
        step = existing.pop(position, None)
        if step is None:
            new.append(CampaignStep(campaign=campaign, position=position, **data))
        else:
            for field, value in data.items():
                setattr(step, field, value)
            changed.append(step)
    if existing:
        CampaignStep.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()
    if changed:
        CampaignStep.objects.bulk_update(changed, ["subject", "body", "delay_days"])
    if new:
        CampaignStep.objects.bulk_create(new)


def create_campaign(workspace: Workspace, data: dict[str, Any]) -> Campaign:
    data = dict(data)
    sender_account_ids = data.pop("sender_account_ids", [])
    steps = data.pop("steps", [])
    with transaction.atomic():
        campaign = Campaign.objects.create(workspace=workspace, **data)
        if sender_account_ids:
            _set_sender_accounts(campaign, sender_account_ids)
        if steps:
            _set_steps(campaign, steps)
    return campaign


# While a campaign sends, its sequence and mailboxes stay as they are (API.md §7).
SEQUENCE_EDITABLE = (Campaign.Status.DRAFT, Campaign.Status.PAUSED)


def sequence_of(campaign: Campaign) -> tuple[list[tuple], set[uuid.UUID]]:
    """The campaign's steps and sender accounts as stored, to tell whether an edit changed them."""
    steps = CampaignStep.objects.filter(campaign=campaign).order_by("position")
    return (
        list(steps.values_list("position", "subject", "body", "delay_days")),
        set(campaign.sender_accounts.values_list("pk", flat=True)),
    )


def _sequence_changes(
    campaign: Campaign,
    steps: Sequence[dict[str, Any]] | None,
    sender_account_ids: Sequence[uuid.UUID] | None,
) -> list[str]:
    """Which of `steps` and `sender_account_ids` (None: not sent) differ from what is stored."""
    stored_steps, stored_ids = sequence_of(campaign)
    changed = []
    if steps is not None and [(s["subject"], s["body"], s["delay_days"]) for s in steps] != [
        step[1:] for step in stored_steps
    ]:
        changed.append("steps")
    if sender_account_ids is not None and set(sender_account_ids) != stored_ids:
        changed.append("sender_account_ids")
    return changed


def update_campaign(campaign: Campaign, data: dict[str, Any]) -> Campaign:
    """Apply validated settings under the campaign's row lock, so the status read here is the
    one activation and pause see. `steps` and `sender_account_ids` change only while DRAFT or
    PAUSED (Conflict `invalid_state` otherwise; the same values sent again are no change)."""
    data = dict(data)
    sender_account_ids = data.pop("sender_account_ids", None)
    steps = data.pop("steps", None)
    with transaction.atomic():
        current = locked(campaign)
        if current.status not in SEQUENCE_EDITABLE:
            changed = _sequence_changes(current, steps, sender_account_ids)
            if changed:
                raise Conflict(
                    f"Cannot change {' and '.join(changed)} of a campaign in status "
                    f"{current.status}; pause it first.",
                    code="invalid_state",
                    status=current.status,
                    allowed=sorted(SEQUENCE_EDITABLE),
                )
        for field, value in data.items():
            setattr(current, field, value)
        current.save()
        if sender_account_ids is not None:
            _set_sender_accounts(current, sender_account_ids)
        if steps is not None:
            _set_steps(current, steps)
    return current
