"""The campaign state machine, in one place (API.md §5).

`TRANSITIONS` is the whole rule set as data; `activate`, `pause` and `delete` apply it. Each locks
the campaign row (`select_for_update` inside `transaction.atomic()`; on SQLite the IMMEDIATE
transaction takes the database write lock) so that two racing requests never both win."""

import logging
from typing import NamedTuple

from django.db import transaction
from django.http import Http404

from campaigns.models import Campaign
from coldsend.api.exceptions import Conflict
from sender_accounts.models import SenderAccount

logger = logging.getLogger("campaigns.transitions")

Status = Campaign.Status


class Transition(NamedTuple):
    allowed_from: frozenset[str]
    result: str | None  # None: the campaign is deleted


TRANSITIONS: dict[str, Transition] = {
    "activate": Transition(frozenset({Status.DRAFT, Status.PAUSED}), Status.ACTIVE),
    "pause": Transition(frozenset({Status.ACTIVE}), Status.PAUSED),
    "delete": Transition(frozenset({Status.DRAFT, Status.PAUSED}), None),
}


def allowed_states(action: str) -> list[str]:
    return sorted(TRANSITIONS[action].allowed_from)


def locked(campaign: Campaign) -> Campaign:
    """The campaign's current row, locked until the transaction ends; 404 if it is gone."""
    current = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if current is None:
        raise Http404
    return current


def _must_change(action: str, campaign: Campaign) -> bool:
    """True when `action` moves the campaign; False when it is already in the result state
    (a 200 no-op); Conflict when the action is not allowed from its state."""
    rule = TRANSITIONS[action]
    if campaign.status == rule.result:
        return False
    if campaign.status not in rule.allowed_from:
        raise Conflict(
            f"Cannot {action} a campaign in status {campaign.status}.",
            code="invalid_state",
            status=campaign.status,
            allowed=allowed_states(action),
        )
    return True


def readiness_problems(campaign: Campaign, sender_account_count: int) -> list[str]:
    problems = []
    if sender_account_count == 0:
        problems.append("The campaign has no sender account.")
    if not campaign.steps.exists():
        problems.append("The campaign has no step.")
    return problems


def _move(campaign: Campaign, action: str, paused_reason: str | None = None) -> None:
    previous, campaign.status = campaign.status, TRANSITIONS[action].result
    campaign.paused_reason = paused_reason
    campaign.save(update_fields=["status", "paused_reason", "updated_at"])
    logger.info("campaign %s %s: %s -> %s", campaign.pk, action, previous, campaign.status)


def activate(campaign: Campaign) -> Campaign:
    """DRAFT or PAUSED → ACTIVE, once it has a sender account and a step."""
    with transaction.atomic():
        current = locked(campaign)
        if not _must_change("activate", current):
            return current
        # Locking the accounts serialises with a sender-account delete, which locks the account
        # and refuses while an ACTIVE campaign uses it: one of the two sees the other's result.
        accounts = list(
            SenderAccount.objects.select_for_update(of=("self",))
            .filter(campaigns=current)
            .values_list("pk", flat=True)
        )
        problems = readiness_problems(current, len(accounts))
        if problems:
            raise Conflict(
                "The campaign is not ready to be activated.",
                code="not_ready",
                problems=problems,
                status=current.status,
                allowed=allowed_states("activate"),
            )
        _move(current, "activate")
        return current


def pause(campaign: Campaign, reason: str = Campaign.PausedReason.USER) -> Campaign:
    """ACTIVE → PAUSED (`reason`: the user, or the engine's bounce protection). The row lock
    (FOR UPDATE) waits for any send passing the engine's gate (FOR SHARE), so once this has
    returned no new SMTP transaction starts for the campaign."""
    with transaction.atomic():
        current = locked(campaign)
        if _must_change("pause", current):
            _move(current, "pause", paused_reason=reason)
        return current


def delete(campaign: Campaign) -> None:
    """Delete a DRAFT or PAUSED campaign with its steps, leads and events."""
    with transaction.atomic():
        current = locked(campaign)
        _must_change("delete", current)
        # Events first, in one statement, so the cascade through leads finds none to collect.
        current.events.all().delete()
        current.delete()  # cascades to steps and leads
        logger.info("campaign %s delete: %s -> gone", campaign.pk, current.status)
