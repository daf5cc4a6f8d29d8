"""The campaign state machine, in one place (API.md §5).

`TRANSITIONS` is the whole rule set as data; `activate`, `pause`, `delete`, `complete` and
`reopen` apply it. Each locks
the campaign row (`select_for_update` inside `transaction.atomic()`; on SQLite the IMMEDIATE
transaction takes the database write lock) so that two racing requests never both win."""

import logging
from typing import NamedTuple

from django.db import models, transaction

from audit.services import Action, Actor, ActorType, record
from campaigns.models import Campaign
from coldsend.core.errors import Conflict, ErrorCode, NotFound
from events.services import campaign_data, record_event
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
    # The engine's: every lead finished; leads to send to added to a finished campaign.
    "complete": Transition(frozenset({Status.ACTIVE}), Status.COMPLETED),
    "reopen": Transition(frozenset({Status.COMPLETED}), Status.ACTIVE),
}


def allowed_states(action: str) -> list[str]:
    return sorted(TRANSITIONS[action].allowed_from)


def locked(campaign: Campaign) -> Campaign:
    """The campaign's current row, locked until the transaction ends; NotFound if it is gone."""
    current = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if current is None:
        raise NotFound
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
            code=ErrorCode.INVALID_STATE,
            status=campaign.status,
            allowed=allowed_states(action),
        )
    return True


ACTIVE_NEEDS = "An ACTIVE campaign needs at least one sender account and one step; pause it first."
NO_SENDER_ACCOUNT = "The campaign has no sender account."
NO_STEP = "The campaign has no step."


def readiness_problems(campaign: Campaign, sender_account_count: int) -> dict[str, str]:
    """The one rule "an ACTIVE campaign has at least one sender account and one step": what the
    campaign lacks, by the API field that holds it (empty when it is ready). Activation refuses
    with these (409 `not_ready`), and an edit of an ACTIVE campaign may not cause them."""
    problems = {}
    if sender_account_count == 0:
        problems["sender_account_ids"] = NO_SENDER_ACCOUNT
    if not campaign.steps.exists():
        problems["steps"] = NO_STEP
    return problems


AUDIT_ACTIONS = {
    "activate": Action.CAMPAIGN_ACTIVATED,
    "pause": Action.CAMPAIGN_PAUSED,
    "delete": Action.CAMPAIGN_DELETED,
    "complete": Action.CAMPAIGN_COMPLETED,
    "reopen": Action.CAMPAIGN_REACTIVATED,
}


def _move(
    campaign: Campaign,
    action: str,
    actor: Actor,
    paused_reason: str | None = None,
    detail: str | None = None,
) -> None:
    previous, campaign.status = campaign.status, TRANSITIONS[action].result
    campaign.paused_reason = paused_reason
    campaign.save(update_fields=["status", "paused_reason", "updated_at"])
    extra = {"from": previous, "to": campaign.status}
    if detail:
        extra["detail"] = detail
    record(actor, AUDIT_ACTIONS[action], campaign, extra=extra)
    if action in EVENTS:
        data = {**campaign_data(campaign), "reason": _reason(action, actor, paused_reason)}
        record_event(campaign.workspace_id, EVENTS[action], data, campaign_id=campaign.pk)
    logger.info("campaign %s %s: %s -> %s", campaign.pk, action, previous, campaign.status)


# The event of each move (API.md §10), and its `reason`: who or what caused it.
EVENTS = {
    "activate": "campaign.activated",
    "reopen": "campaign.activated",
    "pause": "campaign.paused",
    "complete": "campaign.completed",
}


def _reason(action: str, actor: Actor, paused_reason: str | None) -> str:
    if action == "reopen":
        return "leads_added"
    if action == "complete":
        return "finished"
    if paused_reason == Campaign.PausedReason.BOUNCE_RATE:
        return "bounce_rate"
    return "admin" if actor.type == ActorType.ADMIN_USER else "user"


def activate(campaign: Campaign, *, actor: Actor) -> Campaign:
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
                code=ErrorCode.NOT_READY,
                problems=list(problems.values()),
                status=current.status,
                allowed=allowed_states("activate"),
            )
        _move(current, "activate", actor)
        return current


def pause(
    campaign: Campaign, *, actor: Actor, reason: str = Campaign.PausedReason.USER
) -> Campaign:
    """ACTIVE → PAUSED (`reason`: the user, or the engine's bounce protection). The row lock
    (FOR UPDATE) waits for any send passing the engine's gate (FOR SHARE), so once this has
    returned no new SMTP transaction starts for the campaign."""
    with transaction.atomic():
        current = locked(campaign)
        if _must_change("pause", current):
            _move(current, "pause", actor, paused_reason=reason)
        return current


def _move_if_allowed(campaign: Campaign, action: str, actor: Actor, detail: str) -> bool:
    """The engine's moves: apply `action` when the campaign's state allows it; False, and
    nothing changes, when it does not (no Conflict: nobody asked for it)."""
    with transaction.atomic():
        current = locked(campaign)
        if current.status not in TRANSITIONS[action].allowed_from:
            return False
        _move(current, action, actor, detail=detail)
    campaign.status = current.status
    return True


def complete(campaign: Campaign, *, actor: Actor, detail: str) -> bool:
    """ACTIVE → COMPLETED (the caller has found that no lead has anything left to send)."""
    return _move_if_allowed(campaign, "complete", actor, detail)


def reopen(campaign: Campaign, *, actor: Actor, detail: str) -> bool:
    """COMPLETED → ACTIVE (leads to send to were added)."""
    return _move_if_allowed(campaign, "reopen", actor, detail)


def delete(campaign: Campaign, *, actor: Actor) -> None:
    """Delete a DRAFT or PAUSED campaign with its steps, leads and events."""
    with transaction.atomic():
        current = locked(campaign)
        _must_change("delete", current)
        extra = {"name": current.name, "status": current.status}
        record(actor, AUDIT_ACTIONS["delete"], current, extra=extra)
        _delete_leads_and_events(current)
        current.delete()  # its steps and sender-account links: a few rows
        logger.info("campaign %s delete: %s -> gone", campaign.pk, current.status)


def _delete_leads_and_events(campaign: Campaign) -> None:
    """The campaign's events, then its leads (with whatever else points at them), one statement
    each in the database: Django's collector would load every lead to cascade (7-10 s for 100,000
    leads). Events go first so the counter triggers see each row leave once, and the campaign's
    own delete then drops its counters."""
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    lead_model = Campaign._meta.get_field("leads").related_model
    # Events are engagement's model: reached through the relation, as campaigns import no app
    # above them.
    event_model = Campaign._meta.get_field("events").related_model
    leads, events = qn(lead_model._meta.db_table), qn(event_model._meta.db_table)
    campaign_column = qn(lead_model._meta.get_field("campaign").column)
    event_campaign = qn(event_model._meta.get_field("campaign").column)
    campaign_id = Campaign._meta.pk.get_db_prep_value(campaign.pk, connection)
    # Only quoted identifiers from model metadata are interpolated; the id is a parameter.
    lead_ids = f"SELECT {qn(lead_model._meta.pk.column)} FROM {leads} WHERE {campaign_column} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {events} WHERE {event_campaign} = %s", [campaign_id])  # noqa: S608
        for relation in lead_model._meta.related_objects:
            if relation.related_model is event_model:
                continue  # gone with the campaign's events (an event's lead is of its campaign)
            table = qn(relation.related_model._meta.db_table)
            column = qn(relation.field.column)
            if relation.on_delete is models.CASCADE:
                sql = f"DELETE FROM {table} WHERE {column} IN ({lead_ids})"  # noqa: S608
            elif relation.on_delete is models.SET_NULL:
                sql = f"UPDATE {table} SET {column} = NULL WHERE {column} IN ({lead_ids})"  # noqa: S608
            elif relation.on_delete is models.DO_NOTHING:
                continue
            else:  # PROTECT, RESTRICT, SET_DEFAULT …: not expressible here; say so loudly
                raise NotImplementedError(f"{relation}: on_delete={relation.on_delete.__name__}")
            cursor.execute(sql, [campaign_id])
        cursor.execute(f"DELETE FROM {leads} WHERE {campaign_column} = %s", [campaign_id])  # noqa: S608
