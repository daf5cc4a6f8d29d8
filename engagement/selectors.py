"""Reads over what happened to messages: a campaign's `stats` and analytics, a lead's
engagement, a sender account's sends.

Campaign stats and analytics read the counters that database triggers keep (CampaignCounter,
CampaignEventSlot; see engagement/triggers.py), so each is one query whatever the number of
leads or events."""

import datetime as dt
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate

from campaigns.models import Campaign
from engagement.models import CampaignCounter, CampaignEventSlot, EmailEvent, LeadFirstEvent
from leads.models import Lead

Event = EmailEvent.Type
EVENT_COUNTERS = {
    Event.SENT: "sent",
    Event.OPENED: "opened",
    Event.CLICKED: "clicked",
    Event.REPLIED: "replied",
    Event.BOUNCED: "bounced",
    Event.UNSUBSCRIBED: "unsubscribed",
}


@dataclass(frozen=True)
class Engagement:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied_at: datetime | None = None
    last_contacted_at: datetime | None = None


NO_ENGAGEMENT = Engagement()


def rate(count: int, sent: int) -> float:
    """`count` over `sent`, 0 when nothing was sent, capped to 1, rounded to 4 decimals."""
    if not sent:
        return 0.0
    return round(min(count / sent, 1.0), 4)


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """Leads by status and event counters, from the campaign's counter rows: one query."""
    by_status = dict.fromkeys(Lead.Status.values, 0)
    counts = dict.fromkeys(EVENT_COUNTERS.values(), 0)
    leads_with = dict.fromkeys(EVENT_COUNTERS.values(), 0)  # leads with at least one event
    rows = CampaignCounter.objects.filter(campaign_id=campaign.pk).values_list("key", "value")
    for key, value in rows:
        kind, _, name = key.partition(":")
        if kind == "lead" and name in by_status:
            by_status[name] = value
        elif kind == "event" and name in EVENT_COUNTERS:
            counts[EVENT_COUNTERS[name]] = value
        elif kind == "leads" and name in EVENT_COUNTERS:
            leads_with[EVENT_COUNTERS[name]] = value
    return {
        "leads_total": sum(by_status.values()),
        "leads_by_status": by_status,
        **counts,
        **lead_rates(leads_with, attempted_unsent(campaign, by_status)),
    }


def attempted_unsent(
    campaign: Campaign, by_status: dict[str, int] | None = None, end: dt.datetime | None = None
) -> int:
    """Leads attempted but never sent to (before `end`): BOUNCED with a BOUNCED event (not an
    address suppressed before it was ever tried) or FAILED (refused, out of tries), without a
    SENT event. One query over the campaign's BOUNCED and FAILED leads (index
    lead_campaign_status_newest), run only when the counters say there are some."""
    if by_status is not None and not (
        by_status.get(Lead.Status.BOUNCED) or by_status.get(Lead.Status.FAILED)
    ):
        return 0
    first_events = LeadFirstEvent.objects.filter(campaign_id=campaign.pk, lead=OuterRef("pk"))
    bounced = first_events.filter(type=Event.BOUNCED)
    if end is not None:
        bounced = bounced.filter(first_at__lt=end)
    failed = Q(status=Lead.Status.FAILED) & (Q(created_at__lt=end) if end else Q())
    return (
        Lead.objects.filter(
            campaign_id=campaign.pk, status__in=[Lead.Status.BOUNCED, Lead.Status.FAILED]
        )
        .filter(failed | Q(status=Lead.Status.BOUNCED, pk__in=Subquery(bounced.values("lead"))))
        .exclude(Exists(first_events.filter(type=Event.SENT)))
        .count()
    )


def lead_rates(leads_with: dict[str, int], unsent: int = 0) -> dict[str, float]:
    """Rates in leads (API.md §8): leads with at least one event of the kind over leads with
    at least one SENT; `bounce_rate` over leads with at least one attempted message (the sent
    ones and `unsent` more), so a campaign whose every attempt bounced shows 1.0."""
    sent = leads_with["sent"]
    return {
        "open_rate": rate(leads_with["opened"], sent),
        "click_rate": rate(leads_with["clicked"], sent),
        "reply_rate": rate(leads_with["replied"], sent),
        "bounce_rate": rate(leads_with["bounced"], sent + unsent),
    }


def leads_with_events(campaign: Campaign, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Leads whose first event of each type occurred from `start` to `end` (they add up over
    consecutive ranges), and as `sent` the leads sent to before `end`: one aggregate over the
    campaign's first-event rows."""
    in_range = Q(first_at__gte=start)
    counts = {
        name: Count("pk", filter=Q(type=kind) & (in_range if name != "sent" else Q()))
        for kind, name in EVENT_COUNTERS.items()
    }
    return LeadFirstEvent.objects.filter(campaign_id=campaign.pk, first_at__lt=end).aggregate(
        **counts
    )


def campaign_timezone(campaign: Campaign) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(campaign.schedule["timezone"])
    except (KeyError, TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return zoneinfo.ZoneInfo("UTC")


def days_start_on_slots(tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date) -> bool:
    """True when every day from `first` to `last` starts on a slot boundary (a quarter hour, UTC)
    in `tz`: then each slot lies within one day, and slot counts add up to exact daily ones.
    True for every zone in use today (Asia/Kathmandu is +05:45); False for a zone's local mean
    time of old, such as Berlin's +00:53:28 before 1893."""
    slot = dt.timedelta(minutes=CampaignEventSlot.MINUTES)
    for i in range((last - first).days + 2):
        midnight = dt.datetime.combine(first + dt.timedelta(days=i), dt.time.min, tzinfo=tz)
        if midnight.utcoffset() % slot:
            return False
    return True


def daily_counts(
    campaign: Campaign, tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date
) -> Iterator[tuple[dt.date, dict[str, int]]]:
    """(day, counts) from `first` to `last`, days of `tz`: one grouped query, on the slot
    counters when days start on slot boundaries, else on the events themselves."""
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    if days_start_on_slots(tz, first, last):
        names = list(EVENT_COUNTERS.values())
        rows = (
            CampaignEventSlot.objects.filter(campaign_id=campaign.pk, slot__gte=start, slot__lt=end)
            .order_by()
            .values(day=TruncDate("slot", tzinfo=tz))
            .annotate(**{name: Sum(name) for name in names})
        )
        for row in rows:
            # PostgreSQL sums bigints as numeric (Decimal).
            yield row["day"], {name: int(row[name]) for name in names}
        return
    rows = (
        EmailEvent.objects.filter(campaign=campaign, occurred_at__gte=start, occurred_at__lt=end)
        .order_by()
        .values("type", day=TruncDate("occurred_at", tzinfo=tz))
        .annotate(n=Count("*"))
    )
    for row in rows:
        if row["type"] in EVENT_COUNTERS:
            yield row["day"], {EVENT_COUNTERS[row["type"]]: row["n"]}


def campaign_analytics(campaign: Campaign, first: dt.date, last: dt.date) -> dict[str, Any]:
    """Totals, rates and a zero-filled daily series from `first` to `last` inclusive, days
    being those of the campaign's schedule timezone: one grouped query."""
    tz = campaign_timezone(campaign)
    days = (last - first).days + 1
    series = {
        first + dt.timedelta(days=i): dict.fromkeys(EVENT_COUNTERS.values(), 0) for i in range(days)
    }
    for day, counts in daily_counts(campaign, tz, first, last):
        if day in series:
            for name, n in counts.items():
                series[day][name] += n
    totals = dict.fromkeys(EVENT_COUNTERS.values(), 0)
    for counts in series.values():
        for name, n in counts.items():
            totals[name] += n
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return {
        "campaign_id": campaign.pk,
        "timezone": tz.key,
        "from": first,
        "to": last,
        "totals": totals,
        "rates": lead_rates(
            leads_with_events(campaign, start, end), attempted_unsent(campaign, end=end)
        ),
        "daily": [{"date": day, **counts} for day, counts in series.items()],
    }


def attach_engagement(leads: Sequence[Lead]) -> Sequence[Lead]:
    """Set `lead.engagement` on each lead, with one grouped query for all of them."""
    ids = [lead.pk for lead in leads]
    if not ids:
        return leads
    rows = (
        EmailEvent.objects.filter(
            lead_id__in=ids, type__in=[Event.SENT, Event.OPENED, Event.CLICKED, Event.REPLIED]
        )
        .values("lead_id")
        .annotate(
            sent=Count("id", filter=Q(type=Event.SENT)),
            opened=Count("id", filter=Q(type=Event.OPENED)),
            clicked=Count("id", filter=Q(type=Event.CLICKED)),
            replied_at=Min("occurred_at", filter=Q(type=Event.REPLIED)),
            last_contacted_at=Max("occurred_at", filter=Q(type=Event.SENT)),
        )
        .order_by()
    )
    by_lead = {row.pop("lead_id"): Engagement(**row) for row in rows}
    for lead in leads:
        lead.engagement = by_lead.get(lead.pk, NO_ENGAGEMENT)
    return leads
