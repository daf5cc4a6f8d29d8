"""Time to delete a campaign of 100,000 leads and their events, on PostgreSQL: Django's
collector (the old way: it loads every lead to cascade) against `DELETE campaigns/{id}` now (one
statement per table inside the database, in the request's transaction), on identical data.

The database is DATABASE_URL when it names PostgreSQL (migrated here; the benchmark makes its own
workspace, key and campaigns there and leaves nothing behind but the workspace and its key),
otherwise a throwaway database on BENCH_PG_URL's server, as the other benchmarks use.
Usage: DATABASE_URL=postgres://… python -m bench.campaign_delete [--leads 100000] [--events N]"""

import argparse
import os
import time
import uuid

from bench.campaign_detail import INSERT_EVENTS, INSERT_LEADS
from bench.server import base_env, create_key, manage, postgres_database, setup_django

WORKSPACE = "bench-campaign-delete"
DATABASE = "coldsend_bench_campaign_delete"


def load(workspace: object, leads: int, events: int) -> object:
    """A DRAFT campaign with `leads` leads and `events` events, written in bulk SQL."""
    from django.db import connection

    from campaigns.models import Campaign
    from sender_accounts.models import SenderAccount

    sender = SenderAccount.objects.create(
        workspace=workspace, type="NATIVE", email=f"bench-{uuid.uuid4().hex[:8]}@example.com"
    )
    campaign = Campaign.objects.create(workspace=workspace, name="Bench delete")
    campaign.sender_accounts.add(sender)
    params = {
        "start_ms": int(time.time() * 1000) - leads - 60_000,
        "workspace": workspace.pk,
        "campaign": campaign.pk,
        "sender": sender.pk,
        "leads": leads,
        "events": events,
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_LEADS, params)
        cursor.execute(INSERT_EVENTS, params)
        for table in ("leads_lead", "campaigns_emailevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign


def delete_with_the_collector(campaign: object) -> float:
    """What `transitions.delete` did before: events in one statement, then the campaign, whose
    cascade Django's collector walks lead by lead."""
    from django.db import transaction

    started = time.perf_counter()
    with transaction.atomic():
        campaign.events.all().delete()
        campaign.delete()
    return time.perf_counter() - started


def delete_over_http(campaign: object, key: str) -> float:
    from django.test import Client

    client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
    started = time.perf_counter()
    response = client.delete(f"/api/public/v1/campaigns/{campaign.pk}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 204, response.content
    assert client.get(f"/api/public/v1/campaigns/{campaign.pk}").status_code == 404
    return elapsed


def remaining(campaign: object) -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        counts = []
        for table in ("leads_lead", "campaigns_emailevent", "campaigns_campaigncounter"):
            cursor.execute(f"SELECT count(*) FROM {table} WHERE campaign_id = %s", [campaign.pk])
            counts.append(cursor.fetchone()[0])
    return tuple(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        database_url = postgres_database(DATABASE)
    env = base_env(database_url, RATE_LIMIT="100000000/minute")
    manage(env, "migrate", "--noinput")
    key = create_key(env, workspace=WORKSPACE)
    setup_django(env)
    from workspaces.models import Workspace

    workspace = Workspace.objects.get(slug=WORKSPACE)
    print(f"campaign delete (PostgreSQL), {args.leads:,} leads, {args.events:,} events:")
    before, after = [], []
    for _ in range(args.rounds):
        campaign = load(workspace, args.leads, args.events)
        before.append(delete_with_the_collector(campaign))
        assert remaining(campaign) == (0, 0, 0)
        campaign = load(workspace, args.leads, args.events)
        after.append(delete_over_http(campaign, key))
        assert remaining(campaign) == (0, 0, 0)
    print(f"  before (Django's collector, in-process): {', '.join(f'{s:.2f} s' for s in before)}")
    print(
        f"  after (DELETE campaigns/{{id}}, in-process): {', '.join(f'{s:.2f} s' for s in after)}"
    )
    print(f"  best of each: {min(before):.2f} s -> {min(after):.2f} s")


if __name__ == "__main__":
    main()
