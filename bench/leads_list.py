"""Latency of `GET leads?campaign_id=…&limit=100` for a campaign of 10,000 leads and one of
1,000,000, on PostgreSQL through gunicorn: the first page, and a page ~50 cursors deep.

Target: the 1,000,000-lead figures within 1.5x the 10,000-lead ones (keyset pagination on the
(campaign_id, id DESC) index, no COUNT). The list query's plan is printed (EXPLAIN ANALYZE) and
checked for that index and for the absence of any COUNT.
Usage: python -m bench.leads_list [--samples 150] [--large 1000000] [--small 10000]"""

import argparse
import json
import statistics
import time
import urllib.request
from urllib.parse import urlsplit

from bench.server import (
    gunicorn,
    percentile,
    prepare_postgres,
    summary_ms,
    timed_get,
)

DATABASE = "coldsend_bench_leads"
INDEX = "lead_campaign_newest"
DEPTH = 50
LIMIT = 100

# Ids are built like UUIDv7: 48-bit milliseconds, version 7, then a counter, variant 0b10,
# so they sort by time as coldsend.core.ids.uuid7 does. `step` spreads each campaign's leads over
# time so the two campaigns' ids interleave, as they would in production.
INSERT_LEADS = """
INSERT INTO leads_lead (id, workspace_id, campaign_id, email, first_name, last_name, company,
                        custom_fields, status, created_at)
SELECT (lpad(to_hex(%(start_ms)s::bigint + g * %(step)s), 12, '0') || '7'
        || lpad(to_hex(g %% 4096), 3, '0') || '8' || lpad(to_hex(g), 15, '0'))::uuid,
       %(workspace)s, %(campaign)s, 'lead' || g || '@example.com', 'First' || g, 'Last' || g,
       'Company ' || (g %% 1000), '{"plan": "pro"}'::jsonb,
       (ARRAY['PENDING', 'CONTACTED', 'REPLIED', 'BOUNCED', 'UNSUBSCRIBED',
              'COMPLETED'])[1 + g %% 6],
       to_timestamp((%(start_ms)s::bigint + g * %(step)s) / 1000.0)
FROM generate_series(1, %(count)s) AS g
"""


def load(large: int, small: int) -> dict[str, str]:
    """Two campaigns in the key's workspace; return {label: campaign id}."""
    from django.db import connection

    from campaigns.models import Campaign
    from workspaces.models import Workspace

    workspace = Workspace.objects.get(slug="default")
    span_ms = 3 * large  # about 50 minutes of history for a million leads
    start_ms = int(time.time() * 1000) - span_ms - 60_000
    campaigns = {}
    for label, count in ((f"{large:,}", large), (f"{small:,}", small)):
        campaign = Campaign.objects.create(workspace=workspace, name=f"{label} leads")
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_LEADS,
                {
                    "start_ms": start_ms,
                    "step": span_ms // count,
                    "workspace": workspace.pk,
                    "campaign": campaign.pk,
                    "count": count,
                },
            )
        print(f"  loaded {count:,} leads in {time.monotonic() - started:.1f} s")
        campaigns[label] = str(campaign.pk)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
    return campaigns


def deep_path(client, first: str) -> str:
    """The path of the page reached by following `next` DEPTH times from `first`."""
    url = first
    for _ in range(DEPTH):
        response = client.get(url)
        assert response.status_code == 200, response.content
        nxt = response.json()["next"]
        split = urlsplit(nxt)
        url = f"{split.path}?{split.query}"
    return url


def explain(key: str, campaigns: dict[str, str]) -> None:
    """Run the real view in-process, capture its SQL, and EXPLAIN ANALYZE the lead queries."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
    for label, campaign in campaigns.items():
        first = f"/api/public/v1/leads/?campaign_id={campaign}&limit={LIMIT}"
        for page, path in (("first page", first), (f"page {DEPTH + 1}", deep_path(client, first))):
            client.get(path)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            assert response.status_code == 200
            assert len(response.json()["results"]) == LIMIT
            sqls = [q["sql"] for q in queries]
            # One query reads leads: the page itself, no COUNT. (The engagement query counts
            # events per lead of the page, by lead id.)
            lead_sqls = [s for s in sqls if '"leads_lead"' in s]
            assert len(lead_sqls) == 1, sqls
            assert "COUNT(" not in lead_sqls[0].upper(), lead_sqls
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + lead_sqls[0])
                plan = [row[0] for row in cursor.fetchall()]
            text = "\n".join(plan)
            # A LIMIT over an ordered index scan: no Sort, no sequential scan of the table.
            assert "Index Scan" in text, text
            assert "Sort" not in text, text
            assert "Seq Scan" not in text, text
            index = INDEX if INDEX in text else "the primary key (campaign ~ whole table)"
            print(f"\n  {label} leads, {page}: {len(sqls)} queries, one on leads, no COUNT;")
            print(f"  lead query reads {index}:")
            for line in plan:
                print(f"    {line}")
    connection.close()


def fetch(url: str, key: str) -> dict:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def measure(base: str, key: str, campaigns: dict[str, str], samples: int) -> dict[str, list]:
    urls = {}
    for label, campaign in campaigns.items():
        url = f"{base}/api/public/v1/leads/?campaign_id={campaign}&limit={LIMIT}"
        urls[(label, "first")] = url
        for _ in range(DEPTH):
            url = fetch(url, key)["next"]
        assert len(fetch(url, key)["results"]) == LIMIT
        urls[(label, "deep")] = url
    for url in urls.values():
        for _ in range(20):  # warm-up: connections, caches, plans
            timed_get(url, key)
    results: dict[tuple[str, str], list[float]] = {name: [] for name in urls}
    for _ in range(samples):  # interleaved, so drift on a shared machine hits all alike
        for name, url in urls.items():
            results[name].append(timed_get(url, key))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()

    env, key = prepare_postgres(DATABASE)
    print(f"leads list (PostgreSQL, {DATABASE}):")
    campaigns = load(args.large, args.small)
    explain(key, campaigns)

    with gunicorn(env, workers=2) as (base, _):
        results = measure(base, key, campaigns, args.samples)

    large, small = f"{args.large:,}", f"{args.small:,}"
    print(f"\n  GET leads?campaign_id=…&limit={LIMIT}, gunicorn 2 sync workers, sequential:")
    for (label, page), samples in results.items():
        name = "first page" if page == "first" else f"page {DEPTH + 1}"
        print(f"    {label:>9} leads, {name:<10}: {summary_ms(samples)}")
    for page in ("first", "deep"):
        big, little = results[(large, page)], results[(small, page)]
        median = statistics.median(big) / statistics.median(little)
        p95 = percentile(big, 95) / percentile(little, 95)
        name = "first page" if page == "first" else f"page {DEPTH + 1}"
        print(f"  {name}: {large}/{small} ratio median {median:.2f}x, p95 {p95:.2f}x", end="")
        print(" (target <= 1.5x)")


if __name__ == "__main__":
    main()
