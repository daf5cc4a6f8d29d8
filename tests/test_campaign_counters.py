"""The counters behind `stats` and analytics (engagement/triggers.py): database
triggers keep them exact whoever writes the rows, so every test here compares the API's answer
with a direct COUNT over the rows themselves."""

import datetime as dt
import random
import threading
import zoneinfo
from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, default_schedule
from engagement import triggers
from engagement.models import CampaignCounter, CampaignEventSlot, EmailEvent
from leads.models import Lead
from tests.factories import make_campaign, make_events, make_lead
from tests.urls import api_url, campaign_url

UTC = dt.UTC
# Event type → its name in `stats` and analytics (the slot table's columns too).
COUNTERS = triggers.COLUMNS
TYPES = list(COUNTERS)
RATES = {"open": "OPENED", "click": "CLICKED", "reply": "REPLIED", "bounce": "BOUNCED"}
STATUSES = list(Lead.Status.values)
TRIGGERS = {
    f"campaigns_count_{table}_{op}"
    for table in ("leads", "events")
    for op in ("insert", "delete", "update")
} | {"campaigns_drop_counters_delete"}
# The distinct-lead triggers (engagement/sql/distinct_leads.*): SQLite has no statement-level
# UPDATE trigger with both rows, so it has two.
DISTINCT_TRIGGERS = {
    "postgresql": {
        *(f"campaigns_count_distinct_leads_{op}" for op in ("insert", "delete", "update")),
        "campaigns_drop_lead_firsts_delete",
    },
    "sqlite": {
        *(
            f"campaigns_count_distinct_leads_{name}"
            for name in ("insert", "delete", "update_old", "update_new")
        ),
        "campaigns_drop_lead_firsts_delete",
    },
}


def rate(count: int, sent: int) -> float:
    return round(min(count / sent, 1.0), 4) if sent else 0.0


def counted(campaign: Campaign) -> dict:
    """`stats` as COUNT(*) over the campaign's leads and events."""
    by_status = dict.fromkeys(STATUSES, 0)
    by_status.update(
        Lead.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    by_type = dict(
        EmailEvent.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("type")
        .annotate(n=Count("*"))
    )
    events = {name: by_type.get(kind, 0) for kind, name in COUNTERS.items()}
    leads_with = dict(
        EmailEvent.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("type")
        .annotate(n=Count("lead_id", distinct=True))
    )
    leads_with = {kind: leads_with.get(kind, 0) for kind in COUNTERS}
    # The bounce rate divides by leads attempted: those sent to, and those that bounced (with
    # a BOUNCED event) or FAILED without ever being sent to.
    with_event = {
        kind: set(
            EmailEvent.objects.filter(campaign_id=campaign.pk, type=kind).values_list(
                "lead_id", flat=True
            )
        )
        for kind in ("SENT", "BOUNCED")
    }
    unsent = sum(
        1
        for pk, status in Lead.objects.filter(
            campaign_id=campaign.pk, status__in=["BOUNCED", "FAILED"]
        ).values_list("pk", "status")
        if pk not in with_event["SENT"] and (status == "FAILED" or pk in with_event["BOUNCED"])
    )
    attempted = {"SENT": leads_with["SENT"], "BOUNCED": leads_with["SENT"] + unsent}
    return {
        "leads_total": sum(by_status.values()),
        "leads_by_status": by_status,
        **events,
        **{
            f"{name}_rate": rate(leads_with[kind], attempted.get(kind, leads_with["SENT"]))
            for name, kind in RATES.items()
        },
    }


def slot_of(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def slots_counted(campaign: Campaign) -> dict:
    """Events per (15-minute slot, type), counted from the events."""
    events = EmailEvent.objects.filter(campaign_id=campaign.pk).values_list("occurred_at", "type")
    return dict(Counter((slot_of(at), kind) for at, kind in events))


def slots_kept(campaign: Campaign) -> dict:
    """Events per (15-minute slot, type), from the slot counters."""
    rows = CampaignEventSlot.objects.filter(campaign_id=campaign.pk).values()
    return {
        (row["slot"], kind): row[name]
        for row in rows
        for kind, name in COUNTERS.items()
        if row[name]
    }


def assert_exact(client, *campaigns: Campaign) -> list[dict]:
    """The API's stats and the slot counters of each campaign equal the rows' counts."""
    answers = []
    for campaign in campaigns:
        response = client.get(campaign_url(campaign))
        assert response.status_code == 200, response.content
        assert response.json()["stats"] == counted(campaign)
        assert slots_kept(campaign) == slots_counted(campaign)
        answers.append(response.json()["stats"])
    return answers


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# Schema


def test_every_counter_trigger_is_installed(db):
    # On SQLite, a migration that rebuilds leads_lead, campaigns_emailevent or campaigns_campaign
    # drops their triggers: it must create them again.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        installed = {name for (name,) in cursor.fetchall()}

    assert installed >= TRIGGERS | DISTINCT_TRIGGERS[connection.vendor]
    assert triggers.expected_triggers(connection.vendor) == installed & (
        TRIGGERS | DISTINCT_TRIGGERS[connection.vendor]
    )


# Stats


def test_stats_are_one_query_on_the_counters(client_all, workspace):
    campaign = make_campaign(workspace)
    make_events(campaign, make_lead(campaign, "CONTACTED"), "SENT", 3)
    url = campaign_url(campaign)
    client_all.get(url)  # the key's usage is recorded once, on first use

    with CaptureQueriesContext(connection) as queries:
        response = client_all.get(url)

    assert response.status_code == 200
    assert response.json()["stats"] == counted(campaign)
    tables = [q["sql"] for q in queries]
    assert sum("campaigns_campaigncounter" in sql for sql in tables) == 1
    assert not [sql for sql in tables if "leads_lead" in sql or "campaigns_emailevent" in sql]


def test_leads_created_and_deleted_through_the_api_are_counted(client_all, workspace):
    campaign, other = make_campaign(workspace), make_campaign(workspace)
    created = []
    for i in range(3):
        response = client_all.post(
            api_url("leads"), {"campaign_id": str(campaign.pk), "email": f"a{i}@example.com"}
        )
        assert response.status_code == 201, response.content
        created.append(response.json()["id"])
    duplicate = client_all.post(
        api_url("leads"), {"campaign_id": str(campaign.pk), "email": "A0@example.com"}
    )
    client_all.post(api_url("leads"), {"campaign_id": str(other.pk), "email": "a0@example.com"})

    [stats, other_stats] = assert_exact(client_all, campaign, other)
    assert duplicate.status_code == 409
    assert stats["leads_by_status"]["PENDING"] == stats["leads_total"] == 3
    assert other_stats["leads_total"] == 1

    deleted = client_all.delete(api_url(f"leads/{created[0]}"))

    assert deleted.status_code == 204
    [stats, other_stats] = assert_exact(client_all, campaign, other)
    assert stats["leads_total"] == 2
    assert other_stats["leads_total"] == 1


def test_status_changes_by_update_and_save_move_the_counts(client_all, workspace):
    campaign, other = make_campaign(workspace), make_campaign(workspace)
    leads = [make_lead(campaign) for _ in range(6)]

    Lead.objects.filter(pk__in=[lead.pk for lead in leads[:3]]).update(status="CONTACTED")
    Lead.objects.filter(pk=leads[0].pk).update(status="CONTACTED")  # already CONTACTED
    leads[3].status = "REPLIED"
    leads[3].save()
    leads[4].first_name = "Ada"
    leads[4].save()  # every column is written, the status is the same
    Lead.objects.filter(pk=leads[5].pk).update(campaign=other, status="BOUNCED")

    [stats, other_stats] = assert_exact(client_all, campaign, other)
    assert {k: v for k, v in stats["leads_by_status"].items() if v} == {
        "PENDING": 1,
        "CONTACTED": 3,
        "REPLIED": 1,
    }
    assert other_stats["leads_by_status"]["BOUNCED"] == other_stats["leads_total"] == 1


def test_a_csv_import_is_counted(client_all, workspace):
    campaign = make_campaign(workspace)
    make_lead(campaign)
    existing = Lead.objects.get(campaign=campaign).email
    data = "Email,First Name\nAnn@example.com,Ann\nbob@example.com,Bob\nann@example.com,A\n"
    data += f"not-an-email,X\n{existing},Y\n"

    response = client_all.post(
        api_url("leads/import"),
        {
            "campaign_id": str(campaign.pk),
            "file": SimpleUploadedFile("leads.csv", data.encode(), "text/csv"),
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (2, 2)
    [stats] = assert_exact(client_all, campaign)
    assert stats["leads_by_status"]["PENDING"] == 3


def test_a_json_import_is_counted(client_all, workspace):
    campaign = make_campaign(workspace)
    leads = [{"email": f"lead{i}@example.com"} for i in range(50)] + [{"email": "bad"}]

    response = client_all.post(
        api_url("leads/import"), {"campaign_id": str(campaign.pk), "leads": leads}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["created"] == 50
    [stats] = assert_exact(client_all, campaign)
    assert stats["leads_total"] == 50


def test_events_bulk_created_deleted_retyped_and_moved_are_counted(client_all, workspace):
    campaign, other = make_campaign(workspace), make_campaign(workspace)
    lead = make_lead(campaign)
    for hour, kind in enumerate(TYPES * 2):
        make_events(campaign, lead, kind, hour + 1, at(2025, 3, 3, hour, 30))
    [stats] = assert_exact(client_all, campaign)
    assert stats["sent"] == 1 + 7

    events = EmailEvent.objects.filter(campaign=campaign)
    events.filter(type="OPENED", occurred_at__hour=1).delete()
    assert_exact(client_all, campaign)

    events.filter(type="CLICKED").update(type="REPLIED")
    assert_exact(client_all, campaign)

    events.filter(type="SENT", occurred_at__hour=0).update(occurred_at=at(2025, 3, 5, 23, 59))
    assert_exact(client_all, campaign)

    events.filter(type="REPLIED", occurred_at__hour=3).update(occurred_at=at(2025, 3, 3, 3, 59))
    assert_exact(client_all, campaign)  # the same hour, another slot

    moved = events.filter(type="BOUNCED").values_list("pk", flat=True)
    EmailEvent.objects.filter(pk__in=list(moved)).update(campaign=other)
    [stats, other_stats] = assert_exact(client_all, campaign, other)
    assert stats["bounced"] == 0
    assert other_stats["bounced"] == 5 + 11


def test_rows_inserted_with_raw_sql_are_counted(client_all, workspace):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign)
    make_events(campaign, lead, "SENT", 3, at(2025, 3, 3, 9, 15))
    make_events(campaign, lead, "SENT", 2, at(2025, 3, 3, 10, 45))

    with connection.cursor() as cursor:  # as the sender engine or a script might
        cursor.execute(
            "INSERT INTO campaigns_emailevent (campaign_id, lead_id, type, occurred_at)"
            " SELECT campaign_id, lead_id, 'OPENED', occurred_at FROM campaigns_emailevent"
        )
        cursor.execute("UPDATE leads_lead SET status = 'REPLIED'")

    [stats] = assert_exact(client_all, campaign)
    assert (stats["sent"], stats["opened"], stats["leads_by_status"]["REPLIED"]) == (5, 5, 1)


def test_deleting_a_campaign_deletes_its_counters(client_all, workspace):
    campaign, other = make_campaign(workspace), make_campaign(workspace)
    for target in (campaign, other):
        for status in STATUSES:
            make_events(target, make_lead(target, status), "SENT", 2)
    kept = sorted(CampaignCounter.objects.filter(campaign=other).values_list("key", "value"))

    response = client_all.delete(campaign_url(campaign))

    assert response.status_code == 204
    assert not CampaignCounter.objects.filter(campaign_id=campaign.pk).exists()
    assert not CampaignEventSlot.objects.filter(campaign_id=campaign.pk).exists()
    assert sorted(CampaignCounter.objects.filter(campaign=other).values_list("key", "value")) == (
        kept
    )
    [stats] = assert_exact(client_all, other)
    assert (stats["leads_total"], stats["sent"]) == (len(STATUSES), 2 * len(STATUSES))


def test_the_migration_counts_the_rows_already_there(client_all, workspace):
    campaign = make_campaign(workspace)
    for status in STATUSES:
        lead = make_lead(campaign, status)
        for hour, kind in enumerate(TYPES):
            make_events(campaign, lead, kind, 2, at(2025, 6, 1, hour, 10))
    kept = sorted(CampaignCounter.objects.values_list("campaign_id", "key", "value"))

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_campaigncounter")
        cursor.execute("DELETE FROM campaigns_campaigneventslot")
        for sql in triggers.statements(triggers.CURRENT, connection.vendor, "_backfill"):
            cursor.execute(sql)
        cursor.execute(
            triggers.statements(triggers.DISTINCT_LEADS, connection.vendor, "_backfill")[-1]
        )

    assert sorted(CampaignCounter.objects.values_list("campaign_id", "key", "value")) == kept
    [stats] = assert_exact(client_all, campaign)
    assert (stats["leads_total"], stats["sent"]) == (len(STATUSES), 2 * len(STATUSES))


# Concurrent writers


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_counters_exact(make_client, workspace):
    campaigns = [make_campaign(workspace), make_campaign(workspace)]
    leads = [[make_lead(c) for _ in range(8)] for c in campaigns]
    threads_count, rounds = 8, 12
    barrier = threading.Barrier(threads_count)
    errors = []

    def write(n: int) -> None:
        rng = random.Random(n)
        try:
            barrier.wait(timeout=30)
            for i in range(rounds):
                # Both campaigns in one statement, in opposite orders: the triggers lock the
                # counters in key order, so the writers cannot deadlock.
                order = campaigns if n % 2 else campaigns[::-1]
                EmailEvent.objects.bulk_create(
                    EmailEvent(
                        campaign=c,
                        lead=leads[campaigns.index(c)][n],
                        type=rng.choice(TYPES),
                        occurred_at=at(2025, 3, 3, rng.randrange(24), 0),
                    )
                    for c in order
                    for _ in range(3)
                )
                make_lead(order[0], rng.choice(STATUSES))
                Lead.objects.filter(pk=leads[i % 2][n].pk).update(status=rng.choice(STATUSES))
                if i % 4 == 3:
                    EmailEvent.objects.filter(lead=leads[0][n], type=rng.choice(TYPES)).delete()
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    stats = assert_exact(make_client(["campaigns:read"]), *campaigns)
    assert sum(s["leads_total"] for s in stats) == 16 + threads_count * rounds


# Analytics: slot counters, or the events themselves when days do not start on a quarter hour


def expected_daily(campaign: Campaign, tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date):
    """The daily series computed here, in Python, from every event's own time."""
    days = {
        first + dt.timedelta(days=i): dict.fromkeys(COUNTERS.values(), 0)
        for i in range((last - first).days + 1)
    }
    for occurred_at, kind in EmailEvent.objects.filter(campaign=campaign).values_list(
        "occurred_at", "type"
    ):
        day = days.get(occurred_at.astimezone(tz).date())
        if day is not None:
            day[COUNTERS[kind]] += 1
    return [{"date": day.isoformat(), **counts} for day, counts in days.items()]


SLOTS, EVENTS = "campaigns_campaigneventslot", "campaigns_emailevent"


@pytest.mark.parametrize(
    ("timezone", "first", "last", "table"),
    [
        ("UTC", "2025-03-29", "2025-04-01", SLOTS),
        ("Europe/Berlin", "2025-03-29", "2025-04-01", SLOTS),  # a 23-hour day
        ("Europe/Berlin", "2025-10-25", "2025-10-28", SLOTS),  # a 25-hour day
        ("America/New_York", "2025-11-01", "2025-11-04", SLOTS),
        ("Pacific/Kiritimati", "2025-03-29", "2025-04-01", SLOTS),  # +14:00
        ("Asia/Kolkata", "2025-03-29", "2025-04-01", SLOTS),  # +05:30
        ("Asia/Kathmandu", "2025-03-29", "2025-04-01", SLOTS),  # +05:45
        ("America/St_Johns", "2025-11-01", "2025-11-04", SLOTS),  # -02:30 to -03:30
        ("Australia/Adelaide", "2025-04-04", "2025-04-07", SLOTS),  # +10:30 to +09:30
        ("Australia/Lord_Howe", "2025-04-04", "2025-04-07", SLOTS),  # a 30-minute change
        ("Pacific/Chatham", "2025-04-04", "2025-04-07", SLOTS),  # +13:45 to +12:45
        ("America/Caracas", "2016-04-29", "2016-05-03", SLOTS),  # -04:30 to -04:00
        # Local mean time: Berlin was +00:53:28 until 1893-04-01, Monrovia -00:44:30 until
        # 1972-01-07. Such days do not start on a quarter hour: the events are counted.
        ("Europe/Berlin", "1893-03-30", "1893-04-02", EVENTS),
        ("Africa/Monrovia", "1972-01-05", "1972-01-08", EVENTS),
        ("Africa/Monrovia", "1972-01-08", "1972-01-11", SLOTS),
    ],
)
def test_daily_counts_are_exact_at_day_boundaries(
    client_all, workspace, timezone, first, last, table
):
    tz = zoneinfo.ZoneInfo(timezone)
    campaign = make_campaign(workspace, schedule={**default_schedule(), "timezone": timezone})
    lead = make_lead(campaign)
    start = dt.datetime.fromisoformat(first).replace(tzinfo=UTC) - dt.timedelta(hours=16)
    rng = random.Random(timezone)  # irregular, so that no day looks like the next
    events = []
    for i in range((4 * 24 + 32) * 4):  # every quarter hour, and the microsecond before
        moment = start + dt.timedelta(minutes=15 * i)
        for when in (moment, moment - dt.timedelta(microseconds=1)):
            events += [
                EmailEvent(campaign=campaign, lead=lead, type=rng.choice(TYPES), occurred_at=when)
                for _ in range(rng.randrange(3))
            ]
    EmailEvent.objects.bulk_create(events)
    url = campaign_url(campaign, "analytics") + f"?from={first}&to={last}"
    client_all.get(url)

    with CaptureQueriesContext(connection) as queries:
        response = client_all.get(url)

    assert response.status_code == 200, response.content
    data = response.json()
    daily = expected_daily(campaign, tz, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    assert data["daily"] == daily
    assert data["totals"] == {name: sum(day[name] for day in daily) for name in COUNTERS.values()}
    assert data["totals"]["sent"] > 0
    read = [q["sql"] for q in queries if "GROUP BY" in q["sql"]]
    assert len(read) == 1
    assert table in read[0]
