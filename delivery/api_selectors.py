"""Reads of what the engine recorded, for the API's views and the admin (selectors: no writes).
Kept apart from the engine's own modules; campaigns, leads and sender accounts never import
this, only their views and admin do."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from campaigns.models import Campaign
from coldsend.core import clock
from delivery.models import Answer, Attempt, InboundMessage, Message
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount

DAY = timedelta(hours=24)
Event = EmailEvent.Type


def sender_account_stats(account: SenderAccount) -> dict[str, int]:
    """`sent_today`: SMTP attempts in the rolling 24 hours (what `daily_limit` caps, the same
    count the engine uses); `sent_total` and `bounced` from the account's email events."""
    sent_today = Attempt.objects.filter(sender_account=account, at__gt=clock.now() - DAY).count()
    totals = EmailEvent.objects.filter(
        sender_account=account, type__in=[Event.SENT, Event.BOUNCED]
    ).aggregate(
        sent_total=Count("pk", filter=Q(type=Event.SENT)),
        bounced=Count("pk", filter=Q(type=Event.BOUNCED)),
    )
    # Answers (API.md §11) count in the account's total, never in a campaign's events.
    totals["sent_total"] += Answer.objects.filter(
        sender_account=account, status=Answer.Status.SENT
    ).count()
    return {"sent_today": sent_today, **totals}


def campaign_progress(campaign: Campaign, next_sends: int = 10) -> dict:
    """For the admin: leads by status, how many are scheduled, and the next few sends."""
    leads = Lead.objects.filter(campaign_id=campaign.pk)
    by_status = dict(
        leads.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    scheduled = leads.filter(next_send_at__isnull=False)
    return {
        "by_status": {status: by_status.get(status, 0) for status in Lead.Status.values},
        "scheduled": scheduled.count(),
        "next": list(
            scheduled.order_by("next_send_at").values_list("email", "current_step", "next_send_at")[
                :next_sends
            ]
        ),
        "in_flight": Message.objects.filter(
            campaign_id=campaign.pk, status__in=[Message.Status.CLAIMED, Message.Status.SENDING]
        ).count(),
    }


OUTBOUND, INBOUND = 0, 1  # the rank of a direction: outbound first at the same instant


@dataclass(frozen=True)
class ConversationItem:
    """One item of a lead's conversation (`GET leads/{id}/messages`, API.md §11): a campaign
    step sent or attempted (`Message`), an answer (`Answer`) or an inbound message."""

    at: datetime
    rank: int  # OUTBOUND before INBOUND at the same instant
    id: uuid.UUID
    record: Message | Answer | InboundMessage

    @property
    def key(self) -> tuple[datetime, int, uuid.UUID]:
        """The sort key: oldest first; ties outbound first, then id (unique)."""
        return (self.at, self.rank, self.id)

    @property
    def direction(self) -> str:
        return "outbound" if self.rank == OUTBOUND else "inbound"


def lead_messages(lead: Lead, *, with_accounts: bool = False) -> list[ConversationItem]:
    """The lead's conversation, oldest first by `at` (`GET leads/{id}/messages`, API.md §7 and
    §11): the steps sent or attempted (a step not attempted yet is left out) at when sent, else
    when last attempted; the answers at when sent, else when queued; the inbound messages at
    their arrival. Three queries; a lead's thread is small, so it is merged here.
    `with_accounts`: the sender accounts are loaded too (the admin shows their address)."""
    steps = Message.objects.filter(lead=lead, attempts__gt=0)
    answers = Answer.objects.filter(lead=lead)
    if with_accounts:
        steps, answers = (
            steps.select_related("sender_account"),
            answers.select_related("sender_account"),
        )
    items = [
        ConversationItem(m.sent_at or m.attempted_at or m.claimed_at, OUTBOUND, m.pk, m)
        for m in steps
    ]
    items += [ConversationItem(a.sent_at or a.queued_at, OUTBOUND, a.pk, a) for a in answers]
    items += [
        ConversationItem(i.received_at, INBOUND, i.pk, i)
        for i in InboundMessage.objects.filter(lead=lead)
    ]
    items.sort(key=lambda item: item.key)
    return items
