"""The one door of every change (Zulip's `do_*`): each function writes the change, its audit row
and its scheduling together (in one transaction, but for added leads: see `_schedule_added`).
API views, admin pages and actions, management commands and the engine call these and nothing
below them, so a rule is applied once for all doors.

Domain errors (coldsend.core.errors) come out unchanged; each door turns them into its answer
(the API's 409 body, an admin message, a command error)."""

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import IO, Any

from django.db import transaction

from audit.services import Action, Actor, record
from campaigns import services as campaign_services
from campaigns import transitions as campaign_transitions
from campaigns.models import Campaign
from coldsend.core import clock
from coldsend.core.errors import Conflict, ErrorCode, Invalid, NotFound
from delivery import answering, building, previews, rescheduling
from delivery.completion import complete_if_done
from delivery.models import Answer, Message
from delivery.records import bounce_streak
from engagement import suppressions
from engagement.models import Suppression
from leads import importing
from leads import services as lead_services
from leads.models import Lead
from sender_accounts.fields import DecryptionError
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace

# Campaign fields whose change moves the next sends at once.
TIMING_FIELDS = ("schedule", "daily_limit")
EDITABLE_FIELDS = [
    field
    for field in Campaign._meta.concrete_fields
    if field.editable and not field.primary_key and field.name not in ("workspace", "status")
]


def do_create_campaign(workspace: Workspace, data: Mapping[str, Any], *, actor: Actor) -> Campaign:
    """A DRAFT campaign with its steps and sender accounts."""
    with transaction.atomic():
        campaign = campaign_services.create_campaign(workspace, dict(data))
        record(actor, Action.CAMPAIGN_CREATED, campaign, extra={"name": campaign.name})
    return campaign


def do_update_campaign(campaign: Campaign, data: Mapping[str, Any], *, actor: Actor) -> Campaign:
    """Apply validated settings (steps and sender accounts only while DRAFT or PAUSED); a new
    schedule or daily limit of an ACTIVE campaign applies to the next sends at once."""
    with transaction.atomic():
        stored = campaign_transitions.locked(campaign)  # the caller's copy may hold the edit
        before = _settings_of(stored)
        current = campaign_services.update_campaign(stored, dict(data))
        after = _settings_of(current)
        changed = sorted(field for field in after if after[field] != before[field])
        if changed:
            record(actor, Action.CAMPAIGN_UPDATED, current, extra={"fields": changed})
        if current.status == Campaign.Status.ACTIVE and set(changed) & set(TIMING_FIELDS):
            rescheduling.schedule_campaign(current)
    return current


def _settings_of(campaign: Campaign) -> dict[str, Any]:
    """The campaign's editable settings as stored, to name the fields an update changed."""
    steps, sender_account_ids = campaign_services.sequence_of(campaign)
    values = {field.name: getattr(campaign, field.attname) for field in EDITABLE_FIELDS}
    return {**values, "steps": steps, "sender_account_ids": sender_account_ids}


def do_activate_campaign(campaign: Campaign, *, actor: Actor) -> Campaign:
    """DRAFT or PAUSED → ACTIVE, every lead with something left to send scheduled; COMPLETED at
    once when none has."""
    with transaction.atomic():
        was = campaign.status
        current = campaign_transitions.activate(campaign, actor=actor)
        if was != current.status:
            bounce_streak.end(current.pk)  # hard bounces "in a row" start again (API.md §7)
            if rescheduling.schedule_campaign(current):
                current.refresh_from_db()
    return current


def do_pause_campaign(
    campaign: Campaign, *, actor: Actor, reason: str = Campaign.PausedReason.USER
) -> Campaign:
    """ACTIVE → PAUSED; nothing is due for it until it is activated again. Once this has
    returned no new SMTP transaction starts for the campaign (see the engine's gate)."""
    with transaction.atomic():
        current = campaign_transitions.pause(campaign, actor=actor, reason=reason)
        rescheduling.unschedule_campaign(current)
    return current


def do_delete_campaign(campaign: Campaign, *, actor: Actor) -> None:
    """Delete a DRAFT or PAUSED campaign with its steps, leads and events."""
    campaign_transitions.delete(campaign, actor=actor)


def do_complete_campaign(campaign_id: uuid.UUID) -> bool:
    """The engine's: an ACTIVE campaign whose every lead is finished becomes COMPLETED."""
    return complete_if_done(campaign_id)


def do_add_lead(workspace: Workspace, data: Mapping[str, Any], *, actor: Actor) -> Lead:
    """One lead: PENDING, or the suppression's status for a suppressed address; scheduled at
    once when its campaign sends (a COMPLETED campaign reopens)."""
    with transaction.atomic():
        lead = lead_services.create_lead(workspace, data)
        record(actor, Action.LEAD_CREATED, lead, extra={"campaign_id": str(lead.campaign_id)})
    _schedule_added(lead.campaign, [lead.pk], actor=actor)
    # Deleted meanwhile (with its campaign, or by a DELETE): the answer is what was created.
    with contextlib.suppress(Lead.DoesNotExist):
        lead.refresh_from_db(fields=["status", "next_send_at"])
    return lead


def do_import_leads(
    campaign: Campaign,
    *,
    actor: Actor,
    csv_file: IO[bytes] | None = None,
    json_leads: importing.LeadItems | list[Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> importing.ImportReport:
    """Import a CSV file (binary, seekable) or a JSON list of lead objects: `POST leads/import`
    and `manage.py import_leads` are this one function. The new leads are scheduled as one
    added by `do_add_lead` is. Campaign.DoesNotExist when the campaign is deleted meanwhile."""
    if (csv_file is None) == (json_leads is None):
        raise ValueError("pass exactly one of csv_file and json_leads")
    if csv_file is not None:
        report = importing.import_csv(campaign, csv_file, actor=actor, progress=progress)
    else:
        report = importing.import_json(campaign, json_leads, actor=actor)
    if report.created:
        report.suppressed = _schedule_added(campaign, None, actor=actor)
    return report


def _schedule_added(campaign: Campaign, lead_ids: list | None, *, actor: Actor) -> int:
    """Suppressions and scheduling of added leads, in a short transaction of their own after
    the insert's: inserting leads holds a weak lock on the campaign row (the foreign key's),
    and two inserts that each then asked for its row lock would deadlock; a long import would
    also hold the campaign (its sending, its pause) for its whole length. Leads a crash leaves
    in between are still PENDING and unscheduled: the next import or activation takes them.
    Returns how many of them were suppressed addresses."""
    return rescheduling.schedule_leads(campaign, lead_ids, actor=actor)


def do_remove_lead(lead: Lead, *, actor: Actor) -> None:
    """Delete a PENDING lead (Conflict `invalid_state` otherwise); when it was the last lead
    with anything left to send, its ACTIVE campaign becomes COMPLETED."""
    with transaction.atomic():
        lead_services.delete_lead(lead, actor=actor)
        complete_if_done(lead.campaign_id)


def do_suppress(
    workspace: Workspace | uuid.UUID,
    email: str,
    reason: str,
    source: str = Suppression.Source.UNKNOWN,
) -> None:
    """No campaign of the workspace sends to `email` again (an unsubscribe or a hard bounce:
    one per message, so no audit row); `source` says how we learnt it."""
    suppressions.suppress(workspace, email, reason, source)


def do_lift_suppression(suppression: Suppression, *, actor: Actor) -> None:
    """The workspace may send to the address again (e.g. one bounced by mistake); audited.
    Lifting one already lifted changes nothing."""
    with transaction.atomic():
        pk = suppression.pk
        if suppressions.lift(suppression):
            record(
                actor,
                Action.SUPPRESSION_LIFTED,
                suppression,
                object_id=pk,
                extra={"email": suppression.email, "reason": suppression.reason},
            )


# What an update of a sender account may change (the API's PATCH, the admin's change form); the
# engine's state (last_error, next_available_at, checked_at …) is not among them.
SENDER_ACCOUNT_FIELDS = frozenset(
    {
        "type", "email", "display_name", "daily_limit", "min_interval_seconds",
        "max_interval_seconds", "status", "smtp_host", "smtp_port", "smtp_username",
        "smtp_password", "smtp_security", "imap_host", "imap_port", "imap_username",
        "imap_password", "imap_security",
    }
)  # fmt: skip
SENDER_ACCOUNT_SECRETS = ("smtp_password", "imap_password")
INTERVAL_FIELDS = frozenset({"min_interval_seconds", "max_interval_seconds"})
# A left-out password is kept only for the server and username it was given for.
LOGIN_TARGET = ("host", "port", "security", "username")
# Sender account fields whose change moves the next sends at once.
SENDER_TIMING_FIELDS = INTERVAL_FIELDS | {"daily_limit", "status"}
AccountStatus = SenderAccount.Status


def do_update_sender_account(
    account: SenderAccount, changes: Mapping[str, Any], *, actor: Actor
) -> SenderAccount:
    """Apply validated settings to a sender account, under its row lock, with an audit row
    naming the fields that actually changed (never a password's value). ACTIVE while the row is
    in ERROR is a Conflict `invalid_state` (a check makes it ACTIVE again); leaving ERROR
    (for DISABLED) clears `last_error`. A login (`smtp_*`, `imap_*`) changed without its
    password is Invalid when the stored server or username is no longer the one the caller
    validated against (a new server never gets the stored password): the API and the admin
    alike. A new gap, limit or status moves the next sends at once: a new gap
    applies from now (`next_available_at` cleared), and each ACTIVE campaign using the account
    is rescheduled in a short transaction of its own after this one (as `_schedule_added` does),
    its next claim applying the new settings."""
    unknown = set(changes) - SENDER_ACCOUNT_FIELDS
    if unknown:
        raise ValueError(f"not a sender account setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        stored = (
            SenderAccount.objects.select_for_update()
            .defer(*SENDER_ACCOUNT_SECRETS)
            .filter(pk=account.pk)
            .first()
        )
        if stored is None:
            raise NotFound
        was = stored.status
        wants_active = changes.get("status") == AccountStatus.ACTIVE
        if wants_active and was == AccountStatus.ERROR:
            raise Conflict(
                "Cannot make a sender account in status ERROR ACTIVE: check it instead "
                "(it becomes ACTIVE once its server accepts it).",
                code=ErrorCode.INVALID_STATE,
                status=was,
                allowed=[AccountStatus.ACTIVE, AccountStatus.DISABLED],
            )
        moved = _logins_moved(stored, changes)
        if moved:
            raise Invalid({prefix: [LOGIN_MOVED] for prefix in moved})
        changed = sorted(n for n, value in changes.items() if _setting_differs(stored, n, value))
        for name in changed:
            setattr(stored, name, changes[name])
        written = list(changed)
        if INTERVAL_FIELDS.intersection(changed):
            stored.next_available_at = None  # a smaller gap applies at once
            written.append("next_available_at")
        if "status" in changed and was == AccountStatus.ERROR:
            stored.last_error = ""
            written.append("last_error")
        if changed:
            stored.save(update_fields=written)
            record(actor, Action.SENDER_ACCOUNT_UPDATED, stored, extra={"fields": changed})
    if SENDER_TIMING_FIELDS.intersection(changed):
        using = Campaign.objects.filter(sender_accounts=stored, status=Campaign.Status.ACTIVE)
        for campaign in using.only("pk"):
            rescheduling.schedule_campaign(campaign)
    return stored


def _setting_differs(account: SenderAccount, name: str, value: Any) -> bool:
    """Whether `value` differs from the stored one; a stored secret no key decrypts any more
    differs from every value."""
    try:
        return getattr(account, name) != value  # a deferred secret is read (decrypted) here
    except DecryptionError:
        return True


LOGIN_MOVED = "The server or username changed meanwhile: send the password again."


def _logins_moved(stored: SenderAccount, changes: Mapping[str, Any]) -> list[str]:
    """The logins ("smtp", "imap") that `changes` set without a password for another server or
    username than the stored one: the stored password must not go to them."""
    moved = []
    for prefix in ("smtp", "imap"):
        if f"{prefix}_password" in changes or not changes.get(f"{prefix}_username"):
            continue
        target = [f"{prefix}_{part}" for part in LOGIN_TARGET]
        if any(name in changes and changes[name] != getattr(stored, name) for name in target):
            moved.append(prefix)
    return moved


def do_test_send(
    campaign: Campaign, *, step: int, to: str, lead: Lead | None, actor: Actor
) -> previews.TestSend:
    """`POST campaigns/{id}/test` (API.md §7), and the admin's: step `step` (1-based) rendered
    for `lead` (None: a lead with empty fields) sent once, now, to `to`, its subject prefixed
    `[Test] `, from the first ACTIVE account in the order of `sender_account_ids`, outside the
    campaign's window and the account's gap. It counts in that account's rolling daily limit
    only (the campaign's own limit is for its leads); at the limit, or to an address suppressed
    in the workspace, nothing is sent (`sent` false, `error` says why). Its links belong to no
    message and record nothing; no lead, message, event, stat or account status changes (an
    account that fails is reported in `error`, not put in ERROR: a check judges accounts).

    Invalid for a step, lead or address that is wrong; Conflict `not_ready` when the campaign
    has no ACTIVE account; workspaces.slots.NoSlot when CONNECTION_CHECKS_PER_WORKSPACE checks
    or test sends already run in the workspace. Talks SMTP for at most CONNECTION_CHECK_SECONDS.
    Audited (`campaign.test_sent`) whatever the outcome."""
    steps = previews.steps_of(campaign)
    to = previews.check_test(campaign, steps, step, lead, to)
    accounts = previews.accounts_of(campaign)
    account = previews.first_active(accounts)
    if account is None:
        raise Conflict(
            "The campaign has no sender account to send a test from.",
            code=ErrorCode.NOT_READY,
            problems=[
                previews.NO_ACTIVE_ACCOUNT if accounts else campaign_transitions.NO_SENDER_ACCOUNT
            ],
        )
    if Suppression.objects.filter(workspace_id=campaign.workspace_id, email=to).exists():
        result = previews.TestSend(False, previews.SUPPRESSED)
    else:
        with previews.connection_slot(campaign.workspace_id):
            result = previews.send_test(campaign, steps, step, lead, account, to)
    record(
        actor,
        Action.CAMPAIGN_TEST_SENT,
        campaign,
        extra={
            "step": step,
            "to": to,
            "lead_id": str(lead.pk) if lead is not None else None,
            "sender_account_id": str(account.pk),
            "sent": result.sent,
            "error": result.error,
        },
    )
    return result


def do_reply(lead: Lead, *, body: str, subject: str | None, actor: Actor) -> Answer:
    """`POST leads/{id}/reply` (API.md §11): a plain-text answer QUEUED in the lead's thread,
    from the account that sent its steps; a worker sends it within seconds. Conflict
    `suppressed` when its address is suppressed in the workspace (whatever else: nothing may
    go to it), `invalid_state` when the lead was never contacted, `not_ready` when that account
    is deleted or DISABLED. The lead's status and sequence never change."""
    with transaction.atomic():
        current = Lead.objects.select_for_update().filter(pk=lead.pk).first()
        if current is None:
            raise NotFound
        if Suppression.objects.filter(
            workspace_id=current.workspace_id, email=current.email
        ).exists():
            raise Conflict(
                "This lead's address is suppressed in the workspace (it unsubscribed or bounced).",
                code=ErrorCode.SUPPRESSED,
            )
        thread = answering.thread_of(current)
        if thread is None:
            raise Conflict(
                "This lead was never contacted: there is no thread to answer in.",
                code=ErrorCode.INVALID_STATE,
                status=current.status,
            )
        account_id = current.sender_account_id or (
            Message.objects.filter(lead=current, sent_at__isnull=False)
            .order_by("-sent_at")
            .values_list("sender_account_id", flat=True)
            .first()
        )
        account = SenderAccount.objects.filter(pk=account_id).defer(*SENDER_ACCOUNT_SECRETS).first()
        if account is None or account.status == AccountStatus.DISABLED:
            raise Conflict(
                "The sender account of this lead's thread is deleted or DISABLED.",
                code=ErrorCode.NOT_READY,
                problems=["The sender account of the thread is deleted or DISABLED."],
            )
        in_reply_to, references, thread_subject = thread
        now = clock.now()
        answer = Answer.objects.create(
            lead=current,
            sender_account=account,
            subject=building.header_text(subject) if subject else thread_subject,
            body=body,
            message_id=answering.new_message_id(account),
            in_reply_to=in_reply_to,
            references=references,
            queued_at=now,
            next_attempt_at=now,
        )
        record(actor, Action.LEAD_ANSWERED, current, extra={"answer_id": str(answer.pk)})
    return answer
