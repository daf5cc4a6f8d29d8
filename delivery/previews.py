"""A campaign's step as it would be sent (API.md §7, preview and test): rendered for one lead by
the engine's own builder, and what in the steps' text is not what its author meant.

- `unknown_placeholders`: names of placeholders that no lead can fill: neither a standard field
  nor a custom-field key of any of the campaign's leads (exact case: `{{firstname}}`,
  `{{First_Name}}`), fallback or not.
- `invalid_placeholders`: `{{…}}` texts that are not placeholders at all (placeholders.py's
  PLACEHOLDER does not match them: `{{first name}}`, `{{}}`, `{{ a.b }}`), sent as written.

A preview writes nothing. A test send (`send_test`, through delivery/actions.py `do_test_send`)
writes one Attempt, against its sender account's rolling daily limit, and nothing else. Both are
built for a message id that has no Message row, so their links (unsubscribe, open, click) are
tokens of an unknown message: they answer as a forged token does (404; the open pixel its GIF)
and record nothing."""

import contextlib
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from coldsend.core.errors import Invalid
from coldsend.core.ids import uuid7
from delivery import building, placeholders
from delivery.models import Attempt
from delivery.transport import (
    AccountError,
    Bounce,
    Refused,
    Session,
    TemporaryFailure,
    open_session,
)
from leads.emails import normalize_email
from leads.models import Lead
from sender_accounts.fields import DecryptionError
from sender_accounts.models import SenderAccount
from workspaces import slots

# A `{{…}}` on one line: what a reader takes for a placeholder.
BRACES = re.compile(r"\{\{.*?\}\}")
# What a follow-up is rendered in: the engine sends step n after steps 1 … n-1, so its thread
# is never empty. These ids only decide the subject ("Re: …" for an empty one); the headers
# that would carry them are never shown or sent by a preview or a test.
THREAD_HEADERS = ("In-Reply-To", "References")
CHECKED_AT_ONCE = 100  # custom-field names looked up in one query

NO_STEP = "The campaign has no step."
STEP_RANGE = "Must be a step of this campaign: 1 to {count}."
STEP_RANGE_PATTERN = r"Must be a step of this campaign: 1 to \d+\."
LEAD_NOT_IN_CAMPAIGN = "No lead with this id in this campaign."


@dataclass(frozen=True)
class Preview:
    subject: str
    body: str
    headers: dict[str, str]
    unknown_placeholders: list[str]
    invalid_placeholders: list[str]


def steps_of(campaign: Campaign) -> list[CampaignStep]:
    return list(CampaignStep.objects.filter(campaign_id=campaign.pk).order_by("position"))


def step_problem(step_count: int, step: int) -> str | None:
    """Why `step` (1-based) is not a step of a campaign with `step_count` steps, or None."""
    if step_count == 0:
        return NO_STEP
    if not 1 <= step <= step_count:
        return STEP_RANGE.format(count=step_count)
    return None


def check_step(steps: list[CampaignStep], step: int) -> None:
    problem = step_problem(len(steps), step)
    if problem is not None:
        raise Invalid({"step": [problem]})


def check_lead(campaign: Campaign, lead: Lead | None) -> None:
    if lead is not None and lead.campaign_id != campaign.pk:
        raise Invalid({"lead_id": [LEAD_NOT_IN_CAMPAIGN]})


def accounts_of(campaign: Campaign) -> list[SenderAccount]:
    """The campaign's sender accounts in the order the API lists `sender_account_ids` (no order
    is stored: sorted by id, which is creation order), without their secrets."""
    accounts = campaign.sender_accounts.defer("smtp_password", "imap_password")
    return sorted(accounts, key=lambda account: str(account.pk))


def first_active(accounts: Iterable[SenderAccount]) -> SenderAccount | None:
    return next((a for a in accounts if a.status == SenderAccount.Status.ACTIVE), None)


def sender_for(campaign: Campaign, lead: Lead | None) -> SenderAccount | None:
    """The account a preview shows as the sender: the one the lead's thread is pinned to while
    it is one of the campaign's, else the first ACTIVE one, else the first one (None without
    any). The engine spreads new leads over the ACTIVE accounts: any of them may send."""
    accounts = accounts_of(campaign)
    pinned = getattr(lead, "sender_account_id", None)
    for account in accounts:
        if pinned is not None and account.pk == pinned:
            return account
    return first_active(accounts) or (accounts[0] if accounts else None)


def oldest_lead(campaign: Campaign) -> Lead | None:
    """What a preview without a lead renders: the campaign's oldest lead (None without any)."""
    return Lead.objects.filter(campaign_id=campaign.pk).order_by("created_at", "id").first()


def empty_lead(campaign: Campaign) -> Lead:
    """A lead with empty fields (never saved): placeholders render their fallbacks."""
    return Lead(workspace_id=campaign.workspace_id, campaign=campaign, email="", custom_fields={})


def render(
    campaign: Campaign,
    steps: list[CampaignStep],
    step: int,
    lead: Lead,
    *,
    sender: SenderAccount | None,
    recipient: str,
    message_pk: uuid.UUID,
) -> building.Built:
    """Step `step` (1-based) for `lead`, built as the engine builds it (send.send_one): the
    campaign's unsubscribe line and tracking, a follow-up in its thread (an empty subject
    reuses step 1's, prefixed `Re: `). The thread headers are left out."""
    template = steps[step - 1]
    sender_email = building.ascii_address(sender.email) if sender is not None else ""
    domain = building.domain_of(sender_email)
    built = building.build(
        message_pk=message_pk,
        sender_email=sender_email,
        sender_name=sender.display_name if sender is not None else "",
        recipient=recipient,
        values=placeholders.lead_values(lead),
        subject_template=template.subject,
        body_template=template.body,
        first_subject_template=steps[0].subject,
        thread=[f"<step-{n}@{domain}>" for n in range(1, step)],
        include_unsubscribe_link=campaign.include_unsubscribe_link,
        sent_at=clock.now(),
        tracking=campaign.tracking,
    )
    for name in THREAD_HEADERS:
        del built.message[name]
    return built


def text_body(built: building.Built) -> str:
    """The text part as sent, with `\\n` line ends (SMTP carries CRLF)."""
    part = built.message.get_body(preferencelist=("plain",))
    return part.get_content().replace("\r\n", "\n")


def _texts(steps: list[CampaignStep]) -> list[str]:
    return [text for step in steps for text in (step.subject, step.body)]


def placeholder_names(texts: Iterable[str]) -> list[str]:
    """The names of the placeholders in `texts`, each once, in the order they first appear."""
    names = (m.group(1) for text in texts for m in placeholders.PLACEHOLDER.finditer(text))
    return list(dict.fromkeys(names))


def invalid_placeholders(texts: Iterable[str]) -> list[str]:
    """The `{{…}}` texts (on one line) that are not placeholders, each once, in order: looked
    for between the placeholders, exactly as `placeholders.render` leaves them."""
    found: dict[str, None] = {}
    for text in texts:
        start = 0
        for match in [*placeholders.PLACEHOLDER.finditer(text), None]:
            end = match.start() if match is not None else len(text)
            for bad in BRACES.finditer(text, start, end):
                found.setdefault(bad.group(), None)
            if match is not None:
                start = match.end()
    return list(found)


def unknown_placeholders(campaign: Campaign, names: list[str]) -> list[str]:
    """Of `names`, those neither a standard lead field nor a custom-field key of any of the
    campaign's leads (exact case, as placeholders are rendered)."""
    candidates = [name for name in names if name not in placeholders.LEAD_FIELDS]
    leads = Lead.objects.filter(campaign_id=campaign.pk)
    unknown = []
    for start in range(0, len(candidates), CHECKED_AT_ONCE):
        batch = candidates[start : start + CHECKED_AT_ONCE]
        if not leads.filter(custom_fields__has_any_keys=batch).exists():
            unknown += batch  # the common case (a typo): one query
            continue
        unknown += [n for n in batch if not leads.filter(custom_fields__has_key=n).exists()]
    return unknown


def preview(campaign: Campaign, step: int, lead: Lead | None) -> Preview:
    """Step `step` (1-based) rendered exactly as it would be sent to `lead` (None: a lead with
    empty fields; the API passes the campaign's oldest lead, see `oldest_lead`), with the
    placeholder problems of all the campaign's steps. Invalid when the step or the lead is not
    the campaign's. Writes nothing."""
    steps = steps_of(campaign)
    check_step(steps, step)
    check_lead(campaign, lead)
    shown = lead if lead is not None else empty_lead(campaign)
    built = render(
        campaign,
        steps,
        step,
        shown,
        sender=sender_for(campaign, lead),
        recipient=building.ascii_address(shown.email),
        message_pk=uuid7(),
    )
    texts = _texts(steps)
    return Preview(
        subject=built.subject,
        body=text_body(built),
        headers={
            "From": str(built.message["From"] or ""),
            "To": str(built.message["To"] or ""),
            "Subject": built.subject,
        },
        unknown_placeholders=unknown_placeholders(campaign, placeholder_names(texts)),
        invalid_placeholders=invalid_placeholders(texts),
    )


# Test sends

TEST_PREFIX = "[Test] "
# inbound/checks.py SLOT_KIND: connection checks and test sends share the workspace's places.
SLOT_KIND = "connection"
DAY = timedelta(hours=24)
NO_ACTIVE_ACCOUNT = "No sender account of the campaign is ACTIVE (DISABLED or in ERROR)."
AT_LIMIT = (
    "The sender account has reached its daily limit ({limit} in the last 24 hours): nothing "
    "was sent."
)
SUPPRESSED = (
    "The address is suppressed in this workspace (unsubscribed or bounced): nothing was sent."
)
UNREADABLE_PASSWORD = "The account's stored password cannot be decrypted: nothing was sent."
ACCOUNT_GONE = "The sender account was deleted meanwhile: nothing was sent."


@dataclass(frozen=True)
class TestSend:
    """What a test send did: `sent`, or why not (`error`, a short secret-free text)."""

    __test__ = False  # not a test class for pytest

    sent: bool
    error: str | None = None


def check_test(
    campaign: Campaign, steps: list[CampaignStep], step: int, lead: Lead | None, to: str
) -> str:
    """The recipient of a test send as SMTP carries it (normalised); Invalid naming every field
    that is wrong (a step or lead not the campaign's, an address SMTP cannot carry)."""
    errors = {}
    if (problem := step_problem(len(steps), step)) is not None:
        errors["step"] = [problem]
    if lead is not None and lead.campaign_id != campaign.pk:
        errors["lead_id"] = [LEAD_NOT_IN_CAMPAIGN]
    try:
        to = normalize_email(to)
    except ValidationError as exc:
        errors["to"] = exc.messages
    if errors:
        raise Invalid(errors)
    return to


def connection_slot(workspace_id: uuid.UUID) -> contextlib.AbstractContextManager[None]:
    """One of the workspace's places for a check or a test send (slots.NoSlot: all taken)."""
    return slots.hold(
        workspace_id,
        SLOT_KIND,
        limit=settings.CONNECTION_CHECKS_PER_WORKSPACE,
        seconds=settings.CONNECTION_CHECK_SECONDS + 5,
    )


def send_test(
    campaign: Campaign,
    steps: list[CampaignStep],
    step: int,
    lead: Lead | None,
    account: SenderAccount,
    to: str,
) -> TestSend:
    """Build the step for `lead` (None: empty fields) with `[Test] ` before its subject, count
    it in the account's rolling daily limit (not at the limit: else nothing is sent) and send
    it to `to` now. A failure of the account phase sends nothing and counts nothing, as in the
    engine; the account's status is left as it is (a check is what judges an account)."""
    recipient = building.ascii_address(to)
    built = render(
        campaign,
        steps,
        step,
        lead if lead is not None else empty_lead(campaign),
        sender=account,
        recipient=recipient,
        message_pk=uuid7(),
    )
    built.message.replace_header("Subject", TEST_PREFIX + built.subject)
    try:
        account = SenderAccount.objects.filter(pk=account.pk).first()  # with its secrets
    except DecryptionError:
        return TestSend(False, UNREADABLE_PASSWORD)
    if account is None:
        return TestSend(False, ACCOUNT_GONE)
    attempt = _count_attempt(account)
    if attempt is None:
        return TestSend(False, AT_LIMIT.format(limit=account.daily_limit))
    error, attempted = _transmit(account, recipient, built)
    if not attempted:
        Attempt.objects.filter(pk=attempt).delete()
    return TestSend(error is None, error)


def _count_attempt(account: SenderAccount) -> int | None:
    """An Attempt of the account now, under its row lock (as the engine's claim counts them),
    unless it is at its daily limit (None). Its id."""
    with transaction.atomic():
        locked = SenderAccount.objects.select_for_update().filter(pk=account.pk)
        limit = locked.values_list("daily_limit", flat=True).first()
        now = clock.now()
        used = Attempt.objects.filter(sender_account_id=account.pk, at__gt=now - DAY).count()
        if limit is None or used >= limit:
            return None
        return Attempt.objects.create(sender_account_id=account.pk, at=now).pk


def _transmit(
    account: SenderAccount, recipient: str, built: building.Built
) -> tuple[str | None, bool]:
    """Send over a session of its own, all of it (connect to QUIT) within
    CONNECTION_CHECK_SECONDS: (None or the error, whether the SMTP transaction was tried)."""
    seconds = settings.CONNECTION_CHECK_SECONDS
    ends = time.monotonic() + seconds
    try:
        session = open_session(account, deadline_seconds=seconds)
    except AccountError as exc:
        return str(exc), False
    with _closing(session, ends):
        try:
            session.begin(building.ascii_address(account.email))
        except AccountError as exc:
            return str(exc), False
        try:
            session.finish(recipient, built.message)
        except (Bounce, Refused, TemporaryFailure) as exc:
            return str(exc), True
    return None, True


@contextlib.contextmanager
def _closing(session: Session, ends: float) -> Iterator[None]:
    """Each step of the session (the message, then QUIT) gets only what is left until `ends`."""
    _left(session, ends)
    try:
        yield
    finally:
        _left(session, ends)
        session.close()


def _left(session: Session, ends: float) -> None:
    deadline = getattr(session, "deadline", None)  # SMTP sessions; a Django backend has none
    if deadline is not None:
        deadline.seconds = max(0.1, ends - time.monotonic())
