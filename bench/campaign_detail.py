"""Latency of `GET campaigns/{id}` (with `stats`) for a campaign of 100,000 leads and 300,000
events, on PostgreSQL through gunicorn, and the queries the view makes.

Target: median < 50 ms. `stats` reads the campaign's counter rows, kept by database triggers
(engagement/triggers.py) whoever writes leads and events, here bulk SQL: one
query by primary key, whose plan is printed (EXPLAIN ANALYZE). The stats are checked against
COUNT(*) over the rows.
Usage: python -m bench.campaign_detail [--requests 200] [--leads 100000] [--events 300000]"""

import argparse
import json
import time

from bench.server import (
    gunicorn,
    load_campaign,
    prepare_postgres,
    summary_ms,
    timed_get,
)

DATABASE = "coldsend_bench_campaign"
WARMUP = 30
EVENT_NAMES = ["sent", "opened", "clicked", "replied", "bounced", "unsubscribed"]

# UUIDv7-shaped ids from a number, so events can name their lead without a join.
LEAD_ID = """(lpad(to_hex(%(start_ms)s::bigint + {n}), 12, '0') || '7'
              || lpad(to_hex({n} %% 4096), 3, '0') || '8' || lpad(to_hex({n}), 15, '0'))::uuid"""

INSERT_LEADS = f"""
INSERT INTO leads_lead (id, workspace_id, campaign_id, email, first_name, last_name, company,
                        custom_fields, status, created_at)
SELECT {LEAD_ID.format(n="g")}, %(workspace)s, %(campaign)s, 'lead' || g || '@example.com',
       'First' || g, 'Last' || g, 'Company ' || (g %% 1000), '{{"plan": "pro"}}'::jsonb,
       (ARRAY['PENDING', 'CONTACTED', 'REPLIED', 'BOUNCED', 'UNSUBSCRIBED',
              'COMPLETED'])[1 + g %% 6],
       now()
FROM generate_series(1, %(leads)s) AS g
"""

# Every lead is sent to; the other events are spread over the leads, as a real campaign's are.
INSERT_EVENTS = f"""
INSERT INTO campaigns_emailevent (campaign_id, lead_id, sender_account_id, step_id, type,
                                  occurred_at)
SELECT %(campaign)s, {LEAD_ID.format(n="(1 + g %% %(leads)s)")}, %(sender)s, NULL,
       CASE WHEN g <= %(leads)s THEN 'SENT'
            ELSE (ARRAY['OPENED', 'OPENED', 'OPENED', 'OPENED', 'CLICKED', 'CLICKED',
                        'REPLIED', 'BOUNCED', 'UNSUBSCRIBED', 'SENT'])[1 + g %% 10] END,
       now() - make_interval(secs => (g %% (60 * 86400)))
FROM generate_series(1, %(events)s) AS g
"""


def load(key: str, leads: int, events: int) -> str:
    """One ready campaign made through the API's own code, then leads and events in bulk SQL."""
    body = {
        "name": "Bench campaign",
        "steps": [{"subject": f"Step {i}", "body": "Hello", "delay_days": i} for i in range(3)],
    }
    params = {
        "start_ms": int(time.time() * 1000) - leads - 60_000,
        "leads": leads,
        "events": events,
    }
    print(f"  {leads:,} leads, {events:,} events")
    tables = ["leads_lead", "campaigns_emailevent", "campaigns_campaigncounter"]
    return load_campaign(key, body, [INSERT_LEADS, INSERT_EVENTS], params, tables)


def explain(sql: str, params: object = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n  {sql[:110]}…")
    for line in plan:
        print(f"    {line}")


def counted_stats(campaign: str) -> dict[str, int]:
    """Leads by status and events by type, by COUNT(*) over the rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lead:' || status, count(*) FROM leads_lead WHERE campaign_id = %s GROUP BY 1"
            " UNION ALL SELECT 'event:' || type, count(*) FROM campaigns_emailevent"
            " WHERE campaign_id = %s GROUP BY 1",
            [campaign, campaign],
        )
        return dict(cursor.fetchall())


def inspect(key: str, campaign: str) -> int:
    """The view's query count (in-process, same database), the stats query's plan, and the
    stats checked against COUNT(*) over the rows."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
    path = f"/api/public/v1/campaigns/{campaign}"
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    stats = response.json()["stats"]
    print(f"  stats: {json.dumps(stats)}")
    counted = counted_stats(campaign)
    shown = {f"lead:{k}": v for k, v in stats["leads_by_status"].items() if v}
    shown |= {f"event:{k.upper()}": stats[k] for k in EVENT_NAMES if stats[k]}
    assert shown == counted, (shown, counted)
    print("  stats equal COUNT(*) over the rows")
    for query in queries:
        if "campaigns_campaigncounter" in query["sql"]:
            explain(query["sql"])
    from campaigns.models import Campaign
    from engagement.selectors import campaign_stats

    row = Campaign.objects.get(pk=campaign)
    samples = []
    for _ in range(30):
        started = time.perf_counter()
        campaign_stats(row)
        samples.append(time.perf_counter() - started)
    print(f"\n  the stats query alone, in-process: {summary_ms(samples)}")
    connection.close()
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()

    env, key = prepare_postgres(DATABASE)
    print(f"campaign detail (PostgreSQL, {DATABASE}):")
    campaign = load(key, args.leads, args.events)
    queries = inspect(key, campaign)

    with gunicorn(env, workers=2) as (base, _):
        url = f"{base}/api/public/v1/campaigns/{campaign}"
        for _ in range(WARMUP):
            timed_get(url, key)
        samples = [timed_get(url, key) for _ in range(args.requests)]

    print(
        f"\n  GET campaigns/{{id}} ({args.leads:,} leads, {args.events:,} events), "
        f"gunicorn 2 sync workers, sequential: {summary_ms(samples)}; "
        f"{queries} queries per request (target: median < 50 ms)"
    )


if __name__ == "__main__":
    main()
