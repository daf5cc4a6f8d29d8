"""Latency of `GET campaigns/{id}/analytics` over 365 days for a campaign of 1,000,000 events
spread over the year, on PostgreSQL through gunicorn, and the queries the view makes.

Target: median < 100 ms. The daily series is added up from the campaign's 15-minute slot
counters (engagement/triggers.py): one grouped query over at most 96 * 366
rows, whose plan is printed (EXPLAIN ANALYZE); the totals are checked against COUNT(*) over
the events. The campaign's days are those of Europe/Berlin (DST included), then of
Asia/Kathmandu (+05:45), timed alike.
Usage: python -m bench.analytics [--requests 100] [--events 1000000] [--leads 20000]"""

import argparse
import datetime as dt
import json
import time
import zoneinfo

from bench.campaign_detail import LEAD_ID
from bench.server import (
    gunicorn,
    load_campaign,
    prepare_postgres,
    summary_ms,
    timed_get,
)

DATABASE = "coldsend_bench_analytics"
WARMUP = 20
TIMEZONE = "Europe/Berlin"
OTHER_TIMEZONE = "Asia/Kathmandu"
DAYS = 365

INSERT_LEADS = f"""
INSERT INTO leads_lead (id, workspace_id, campaign_id, email, first_name, last_name, company,
                        custom_fields, status, created_at)
SELECT {LEAD_ID.format(n="g")}, %(workspace)s, %(campaign)s, 'lead' || g || '@example.com',
       'First' || g, 'Last' || g, 'Company ' || (g %% 1000), '{{}}'::jsonb, 'CONTACTED', now()
FROM generate_series(1, %(leads)s) AS g
"""

# Evenly over the last 365 days; a fifth of them SENT, the rest as a campaign's mix.
INSERT_EVENTS = f"""
INSERT INTO campaigns_emailevent (campaign_id, lead_id, sender_account_id, step_id, type,
                                  occurred_at)
SELECT %(campaign)s, {LEAD_ID.format(n="(1 + g %% %(leads)s)")}, %(sender)s, NULL,
       (ARRAY['SENT', 'OPENED', 'SENT', 'OPENED', 'CLICKED', 'SENT', 'REPLIED', 'BOUNCED',
              'UNSUBSCRIBED', 'SENT', 'OPENED', 'CLICKED', 'SENT', 'OPENED',
              'OPENED'])[1 + g %% 15],
       %(end)s::timestamptz - make_interval(secs => g * %(days)s * 86400.0 / %(events)s)
FROM generate_series(1, %(events)s) AS g
"""


def load(key: str, leads: int, events: int) -> str:
    """One ready campaign made through the API's own code, then leads and events in bulk SQL."""
    from django.db import connection

    body = {
        "name": "Bench analytics",
        "steps": [{"subject": "Hello", "body": "Hello", "delay_days": 0}],
        "schedule": {
            "timezone": TIMEZONE,
            "days": [1, 2, 3, 4, 5],
            "start_time": "09:00",
            "end_time": "17:00",
        },
    }
    params = {
        "start_ms": int(time.time() * 1000) - leads - 60_000,
        "leads": leads,
        "events": events,
        "days": DAYS,
        "end": dt.datetime.now(dt.UTC),
    }
    print(f"  {leads:,} leads, {events:,} events")
    tables = ["leads_lead", "campaigns_emailevent", "campaigns_campaigneventslot"]
    campaign = load_campaign(key, body, [INSERT_LEADS, INSERT_EVENTS], params, tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM campaigns_campaigneventslot WHERE campaign_id = %s", [campaign]
        )
        print(f"  slot counter rows: {cursor.fetchone()[0]:,}")
    return campaign


def path_for(campaign: str, timezone: str = TIMEZONE) -> str:
    today = dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()
    first = today - dt.timedelta(days=DAYS - 1)
    return f"/api/public/v1/campaigns/{campaign}/analytics?from={first}&to={today}"


def counted_totals(campaign: str, first: str, last: str, timezone: str) -> dict[str, int]:
    """Events by type from `first` to `last` (days of `timezone`), by COUNT(*) over the rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lower(type), count(*) FROM campaigns_emailevent WHERE campaign_id = %s"
            " AND occurred_at >= (%s::date)::timestamp AT TIME ZONE %s"
            " AND occurred_at < (%s::date + 1)::timestamp AT TIME ZONE %s GROUP BY 1",
            [campaign, first, timezone, last, timezone],
        )
        return dict(cursor.fetchall())


def inspect(key: str, campaign: str, timezone: str) -> int:
    """The view's query count (in-process, same database), the analytics query's plan, and
    the totals checked against COUNT(*) over the events."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.campaign_detail import explain

    client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
    path = path_for(campaign, timezone)
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["timezone"] == timezone, data["timezone"]
    print(f"\n  {data['from']} to {data['to']}, {len(data['daily'])} days, {timezone}")
    print(f"  totals: {json.dumps(data['totals'])}")
    counted = counted_totals(campaign, data["from"], data["to"], timezone)
    assert {k: v for k, v in data["totals"].items() if v} == counted, counted
    assert sum(day["sent"] for day in data["daily"]) == data["totals"]["sent"]
    print("  totals equal COUNT(*) over the events")
    for query in queries:
        if "GROUP BY" in query["sql"]:
            explain(query["sql"])
    connection.close()
    return len(queries)


def set_timezone(campaign: str, timezone: str) -> None:
    from django.db import connection

    from campaigns.models import Campaign

    row = Campaign.objects.get(pk=campaign)
    row.schedule = {**row.schedule, "timezone": timezone}
    row.save(update_fields=["schedule"])
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=20_000)
    args = parser.parse_args()

    env, key = prepare_postgres(DATABASE)
    print(f"campaign analytics (PostgreSQL, {DATABASE}):")
    campaign = load(key, args.leads, args.events)
    results = {}
    with gunicorn(env, workers=2) as (base, _):
        for timezone in (TIMEZONE, OTHER_TIMEZONE):
            set_timezone(campaign, timezone)
            queries = inspect(key, campaign, timezone)
            url = base + path_for(campaign, timezone)
            for _ in range(WARMUP):
                timed_get(url, key)
            results[timezone] = ([timed_get(url, key) for _ in range(args.requests)], queries)

    print()
    for timezone, (samples, queries) in results.items():
        print(
            f"  GET campaigns/{{id}}/analytics ({DAYS} days, {args.events:,} events, "
            f"{timezone}), gunicorn 2 sync workers, sequential: {summary_ms(samples)}; "
            f"{queries} queries per request (target: median < 100 ms)"
        )


if __name__ == "__main__":
    main()
