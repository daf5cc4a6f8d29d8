"""What the public links and the inbox reader change: opens, clicks, unsubscribes, replies,
automatic answers and hard bounces of one message of ours."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import Message as EmailMessage

from django.db import transaction

from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from delivery import placeholders
from delivery.actions import do_complete_campaign, do_suppress
from delivery.html import links
from delivery.models import InboundMessage, Message
from delivery.protection import protect_from_bounces
from delivery.records import record_event, record_lead_event, record_message_event
from delivery.tokens import link_digest
from engagement.models import Suppression
from inbound import classify, dsn, texts
from inbound.dedupe import first_in_window
from inbound.events import Event, insert_hit, message_step_id
from inbound.hits import note_open
from leads import transitions
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("inbound")


@dataclass(frozen=True)
class Sent:
    """What the trackers need of one message, read in one query."""

    pk: uuid.UUID
    lead_id: uuid.UUID
    campaign_id: uuid.UUID
    sender_account_id: uuid.UUID | None
    step: int
    step_id: int | None
    tracking: dict


def sent_message(message_pk: uuid.UUID) -> Sent | None:
    row = (
        Message.objects.filter(pk=message_pk, sent_at__isnull=False)
        .values("pk", "lead_id", "campaign_id", "sender_account_id", "step", "campaign__tracking")
        .annotate(step_id=message_step_id())
        .first()
    )
    if row is None:
        return None
    tracking = row.pop("campaign__tracking")
    return Sent(**row, tracking=tracking if isinstance(tracking, dict) else {})


def _record_hit(message_pk: uuid.UUID, type: str, switch: str) -> None:
    """Insert the event of an open or a click in one statement (one round trip, no lock taken
    before it): only for a sent message of a campaign whose `tracking[switch]` is on."""
    insert_hit(message_pk, type, switch, clock.now())


def record_open(message_pk: uuid.UUID) -> None:
    """OPENED for a sent message of a campaign tracking opens, once per 10 seconds: noted on
    the hot path, written in batches (tracking/hits.py)."""
    note_open(message_pk, clock.now())


def link_target(message_pk: uuid.UUID, index: int, digest: str) -> tuple[Sent, str] | None:
    """The URL at `index` of the body the message was sent with (rendered again from its step
    and lead), if it is the URL the token was made for."""
    message = sent_message(message_pk)
    if message is None or message.step_id is None:
        return None
    body = CampaignStep.objects.filter(pk=message.step_id).values_list("body", flat=True).first()
    lead = Lead.objects.filter(pk=message.lead_id).first()
    if body is None or lead is None:
        return None
    found = links(placeholders.render(body, placeholders.lead_values(lead)))
    if index >= len(found) or link_digest(found[index][2]) != digest:
        return None
    return message, found[index][2]


def record_click(message: Sent, index: int, url: str) -> bool:
    """CLICKED for a campaign tracking clicks, once per link per 10 seconds, with its
    message.clicked event."""
    if not message.tracking.get("clicks"):
        return False
    if not first_in_window("click", message.pk, str(index)):
        return False
    with transaction.atomic():
        _record_hit(message.pk, Event.CLICKED, "clicks")
        record_message_event("message.clicked", message.pk, url=url)
    return True


def _event(message: Sent, event_type: str) -> None:
    """The event of what happened to a sent message, now."""
    record_event(
        campaign_id=message.campaign_id,
        lead_id=message.lead_id,
        sender_account_id=message.sender_account_id,
        step_id=message.step_id,
        type=event_type,
        at=clock.now(),
    )


def unsubscribe(message_pk: uuid.UUID) -> bool:
    """The lead of the message leaves the sequence as UNSUBSCRIBED and its address is
    suppressed in the workspace; the event is recorded once. False for an unknown message."""
    message = sent_message(message_pk)
    if message is None:
        return False
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=message.lead_id).first()
        if lead is None:
            return False
        do_suppress(
            lead.workspace_id,
            lead.email,
            Suppression.Reason.UNSUBSCRIBED,
            Suppression.Source.UNSUBSCRIBE_LINK,
        )
        if lead.status == transitions.UNSUBSCRIBED:
            return True
        leads = Lead.objects.filter(pk=lead.pk)
        transitions.move(leads, transitions.UNSUBSCRIBED, next_send_at=None)
        _event(message, Event.UNSUBSCRIBED)
        record_lead_event("lead.unsubscribed", message.pk)
    logger.info("lead %s unsubscribed", lead.pk)
    do_complete_campaign(message.campaign_id)
    return True


def record_reply(message: Sent, reply: dict | None = None) -> None:
    """REPLIED; the lead shows REPLIED and, with stop_on_reply, its sequence stops. `reply`:
    what lead.replied carries of the answer (inbound/texts.py)."""
    stop = (
        Campaign.objects.filter(pk=message.campaign_id)
        .values_list("stop_on_reply", flat=True)
        .first()
    )
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=message.lead_id).first()
        if lead is None:
            return
        # A lead that left the sequence otherwise (bounced, unsubscribed, failed) keeps its
        # status; the event is recorded all the same.
        stopped = {"next_send_at": None} if stop else {}
        transitions.move(Lead.objects.filter(pk=lead.pk), transitions.REPLIED, **stopped)
        _event(message, Event.REPLIED)
        _answered("lead.replied", message, reply)
    do_complete_campaign(message.campaign_id)


def record_auto_reply(message: Sent, reply: dict | None = None) -> None:
    """AUTO_REPLIED only: an automatic answer is not a reply."""
    with transaction.atomic():
        _event(message, Event.AUTO_REPLIED)
        _answered("lead.auto_replied", message, reply)


def _answered(type: str, message: Sent, reply: dict | None) -> None:
    """lead.replied or lead.auto_replied: L, the Message-ID of ours it answers, the reply."""
    record_lead_event(type, message.pk, with_message_id=True, **({"reply": reply} if reply else {}))


def record_report(message: Sent, failure: dsn.Failure, *, suppress: bool) -> bool:
    """What a bounce report read after the send says of a sent message, once per message: HARD
    is a bounce as at RCPT TO (API.md §7) — BOUNCED, the address suppressed when `suppress`,
    counted in the campaign's bounce rate (never in its hard bounces in a row); FAILED makes
    the message and the lead FAILED. False when nothing changed."""
    hard = failure.verdict == dsn.HARD
    status = Message.Status.BOUNCED if hard else Message.Status.FAILED
    error = " ".join(filter(None, ["bounced:" if hard else "failed:", failure.status,
                                   failure.diagnostic]))  # fmt: skip
    with transaction.atomic():
        # The lead first: a message whose lead is gone is left as it was, with no event.
        lead = Lead.objects.select_for_update().filter(pk=message.lead_id).first()
        if lead is None:
            return False
        if not Message.objects.filter(pk=message.pk, status=Message.Status.SENT).update(
            status=status, error=error[:300]
        ):
            return False
        # The lead's change before the event, as every writer does (the counters' rows are
        # then always locked in one order).
        leads = Lead.objects.filter(pk=lead.pk)
        transitions.move(leads, transitions.BOUNCED if hard else transitions.FAILED,
                         next_send_at=None)  # fmt: skip
        record_message_event(
            "message.bounced" if hard else "message.failed",
            message.pk,
            error=error[:300],
            **({"source": "report"} if hard else {}),
        )
        if hard:
            _event(message, Event.BOUNCED)
            if suppress:
                do_suppress(
                    lead.workspace_id,
                    lead.email,
                    Suppression.Reason.BOUNCED,
                    Suppression.Source.BOUNCE_REPORT,
                )
    if hard:
        protect_from_bounces(message.campaign_id)
    do_complete_campaign(message.campaign_id)
    return True


def keep_inbound(
    message: Sent,
    kind: str,
    parsed: EmailMessage,
    account: SenderAccount,
    received_at: datetime,
) -> InboundMessage:
    """Keep a message that came in for the lead of `message` (ours, which it answers or reports
    on): its headers that matter and its text, bounded (API.md §11); never its attachments."""

    def ids(value: object) -> list[str]:
        return [texts.clean(found) for found in classify.ids_in(value)]

    return InboundMessage.objects.create(
        lead_id=message.lead_id,
        account=account,
        answers_id=message.pk,
        kind=kind,
        from_address=texts.sender(parsed),
        subject=texts.header_text(parsed.get("Subject"))[:998],
        text=texts.text_of(parsed),
        message_id=(ids(parsed.get("Message-ID")) or [""])[0][:300],
        in_reply_to=(ids(parsed.get("In-Reply-To")) or [""])[0][:300],
        references=" ".join(ids(parsed.get("References")))[:10_000],
        received_at=received_at,
    )
