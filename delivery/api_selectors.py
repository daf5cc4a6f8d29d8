"""Reads of what the engine recorded, for the API's views and the admin (selectors: no writes).
Kept apart from the engine's own modules; campaigns, leads and sender accounts never import
this, only their views and admin do."""

from datetime import timedelta

from django.db.models import Count, Q, QuerySet

from campaigns.models import Campaign
from coldsend.core import clock
from delivery.models import Attempt, Message
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


def lead_messages(lead: Lead) -> QuerySet[Message]:
    """The messages sent or attempted for the lead, oldest first (`GET leads/{id}/messages`)."""
    return Message.objects.filter(lead=lead, attempts__gt=0).order_by("step")
