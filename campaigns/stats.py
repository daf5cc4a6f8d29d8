"""Read-side aggregates over leads and email events: a campaign's `stats` and its analytics.

Each is a fixed number of grouped queries, whatever the number of leads or events."""

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate

from campaigns.models import Campaign, EmailEvent

EVENT_COUNTERS = {
    EmailEvent.Type.SENT: "sent",
    EmailEvent.Type.OPENED: "opened",
    EmailEvent.Type.CLICKED: "clicked",
    EmailEvent.Type.REPLIED: "replied",
    EmailEvent.Type.BOUNCED: "bounced",
    EmailEvent.Type.UNSUBSCRIBED: "unsubscribed",
}


def rate(count: int, sent: int) -> float:
    """`count` over `sent`, 0 when nothing was sent, capped to 1, rounded to 4 decimals."""
    if not sent:
        return 0.0
    return round(min(count / sent, 1.0), 4)


def _event_counts(events: Any) -> dict[str, int]:
    counts = dict.fromkeys(EVENT_COUNTERS.values(), 0)
    for row in events.order_by().values("type").annotate(n=Count("*")):
        if row["type"] in EVENT_COUNTERS:
            counts[EVENT_COUNTERS[row["type"]]] = row["n"]
    return counts


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """Leads by status and event counters: two grouped queries."""
    from leads.models import Lead  # leads.models imports campaigns.models

    by_status = dict.fromkeys(Lead.Status.values, 0)
    rows = (
        Lead.objects.filter(campaign=campaign)
        .order_by()
        .values("status")
        .annotate(n=Count("*"))
        .values_list("status", "n")
    )
    by_status.update(rows)
    counts = _event_counts(EmailEvent.objects.filter(campaign=campaign))
    return {
        "leads_total": sum(by_status.values()),
        "leads_by_status": by_status,
        **counts,
        "open_rate": rate(counts["opened"], counts["sent"]),
        "reply_rate": rate(counts["replied"], counts["sent"]),
        "bounce_rate": rate(counts["bounced"], counts["sent"]),
    }


def campaign_timezone(campaign: Campaign) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(campaign.schedule["timezone"])
    except (KeyError, TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return zoneinfo.ZoneInfo("UTC")


def campaign_analytics(campaign: Campaign, first: dt.date, last: dt.date) -> dict[str, Any]:
    """Totals, rates and a zero-filled daily series from `first` to `last` inclusive, days
    being those of the campaign's schedule timezone: one grouped query."""
    tz = campaign_timezone(campaign)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    rows = (
        EmailEvent.objects.filter(campaign=campaign, occurred_at__gte=start, occurred_at__lt=end)
        .order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day", "type")
        .annotate(n=Count("*"))
    )
    days = (last - first).days + 1
    series = {
        first + dt.timedelta(days=i): dict.fromkeys(EVENT_COUNTERS.values(), 0) for i in range(days)
    }
    for row in rows:
        day = series.get(row["day"])
        if day is not None and row["type"] in EVENT_COUNTERS:
            day[EVENT_COUNTERS[row["type"]]] += row["n"]
    totals = dict.fromkeys(EVENT_COUNTERS.values(), 0)
    for counts in series.values():
        for name, n in counts.items():
            totals[name] += n
    sent = totals["sent"]
    return {
        "campaign_id": campaign.pk,
        "timezone": tz.key,
        "from": first,
        "to": last,
        "totals": totals,
        "rates": {
            "open_rate": rate(totals["opened"], sent),
            "click_rate": rate(totals["clicked"], sent),
            "reply_rate": rate(totals["replied"], sent),
            "bounce_rate": rate(totals["bounced"], sent),
        },
        "daily": [{"date": day, **counts} for day, counts in series.items()],
    }
