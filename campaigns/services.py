"""Writes to a campaign's settings (never its status: that is campaigns.transitions), and the
rule that an ACTIVE campaign keeps its sender accounts (campaigns own it: sender_accounts
never imports campaigns)."""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from audit.services import Action, Actor, record
from campaigns.models import Campaign, CampaignStep
from campaigns.transitions import locked
from coldsend.core.errors import Conflict, ErrorCode, Invalid, NotFound
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace

logger = logging.getLogger("sender_accounts")


def _set_sender_accounts(campaign: Campaign, ids: Sequence[uuid.UUID]) -> None:
    # Locked so that a concurrent sender-account delete either finishes first (and the id is
    # refused here) or waits and then sees the campaign using the account.
    found = set(
        SenderAccount.objects.select_for_update()
        .for_workspace(campaign.workspace_id)
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        problems = [f"Sender account {i} does not exist." for i in missing]
        raise Invalid({"sender_account_ids": problems})
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
                    ErrorCode.INVALID_STATE,
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


def active_campaign_ids(account: SenderAccount) -> list[str]:
    """The ACTIVE campaigns using the account, only ever from the account's own workspace."""
    return [
        str(pk)
        for pk in Campaign.objects.for_workspace(account.workspace_id)
        .filter(sender_accounts=account, status=Campaign.Status.ACTIVE)
        .values_list("pk", flat=True)
    ]


def delete_sender_account(account: SenderAccount, *, actor: Actor) -> None:
    """Delete the account unless an ACTIVE campaign uses it (Conflict `in_use`).

    The account row is locked first; campaign activation locks its accounts' rows too, so the
    two serialise and the check below sees any activation that committed before the lock."""
    with transaction.atomic():
        current = (
            SenderAccount.objects.select_for_update()
            .only("pk", "workspace_id", "email")
            .filter(pk=account.pk)
            .first()
        )
        if current is None:
            raise NotFound
        campaigns = active_campaign_ids(current)
        if campaigns:
            raise Conflict(
                "This sender account is used by an active campaign. Pause the campaign "
                "or remove the account from it first.",
                code=ErrorCode.IN_USE,
                campaigns=campaigns,
            )
        record(actor, Action.SENDER_ACCOUNT_DELETED, current, extra={"email": current.email})
        current.delete()
    logger.info("sender account %s deleted", account.pk)
