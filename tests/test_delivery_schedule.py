"""The sending window: its days, start (inclusive) to end (exclusive), in the campaign's IANA
zone, DST-correct (a skipped local time means the first valid instant after it)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from delivery.schedule import Window
from leads.models import Lead
from tests.delivery_support import activate, add_lead, create_account, create_campaign, run_engine

pytestmark = pytest.mark.usefixtures("delivery_settings")

ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def window(zone, start, end, days=ALL_DAYS):
    return Window.of({"timezone": zone, "days": days, "start_time": start, "end_time": end})


@pytest.mark.parametrize(
    ("zone", "start", "end", "now", "expected"),
    [
        # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST. 02:30 does not exist: 03:00 CEST.
        ("Europe/Berlin", "02:30", "05:00", utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 1, 0)),
        # The day before and after: 02:30 CET = 01:30 UTC, 02:30 CEST = 00:30 UTC.
        ("Europe/Berlin", "02:30", "05:00", utc(2026, 3, 27, 23, 0), utc(2026, 3, 28, 1, 30)),
        ("Europe/Berlin", "02:30", "05:00", utc(2026, 3, 29, 23, 0), utc(2026, 3, 30, 0, 30)),
        # 09:00 on the spring-forward day is 07:00 UTC (CEST).
        ("Europe/Berlin", "09:00", "17:00", utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 7, 0)),
        # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice: the first.
        ("Europe/Berlin", "02:30", "05:00", utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 0, 30)),
        ("Europe/Berlin", "09:00", "17:00", utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 8, 0)),
        # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        ("America/New_York", "09:00", "17:00", utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 13, 0)),
        ("America/New_York", "09:00", "17:00", utc(2026, 3, 7, 5, 0), utc(2026, 3, 7, 14, 0)),
        ("America/New_York", "02:15", "04:00", utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 7, 0)),
        # New York, 2026-11-01: back to EST; 09:00 is 14:00 UTC, 01:30 happens twice.
        ("America/New_York", "09:00", "17:00", utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 14, 0)),
        ("America/New_York", "01:30", "04:00", utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 5, 30)),
        # Inside the window: now. Start inclusive, end exclusive.
        ("UTC", "09:00", "17:00", utc(2026, 3, 4, 12, 0), utc(2026, 3, 4, 12, 0)),
        ("UTC", "09:00", "17:00", utc(2026, 3, 4, 9, 0), utc(2026, 3, 4, 9, 0)),
        ("UTC", "09:00", "17:00", utc(2026, 3, 4, 17, 0), utc(2026, 3, 5, 9, 0)),
        ("UTC", "09:00", "17:00", utc(2026, 3, 4, 16, 59, 59), utc(2026, 3, 4, 16, 59, 59)),
        # A window ending at 23:59.
        ("UTC", "00:00", "23:59", utc(2026, 3, 4, 23, 58, 59), utc(2026, 3, 4, 23, 58, 59)),
        ("UTC", "00:00", "23:59", utc(2026, 3, 4, 23, 59), utc(2026, 3, 5, 0, 0)),
        ("Asia/Tokyo", "08:00", "23:59", utc(2026, 3, 4, 14, 59), utc(2026, 3, 4, 23, 0)),
    ],
)
def test_next_opening(zone, start, end, now, expected):
    assert window(zone, start, end).next_open(now) == expected


def test_days_are_iso_weekdays_in_the_campaign_zone():
    weekdays = window("America/New_York", "09:00", "17:00", days=[1, 2, 3, 4, 5])
    friday_evening = utc(2026, 3, 6, 22, 0)  # Friday 17:00 EST
    assert weekdays.next_open(friday_evening) == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT
    # Saturday 01:00 UTC is still Friday 20:00 in New York, and the window is closed.
    assert not weekdays.is_open(utc(2026, 3, 7, 1, 0))
    sundays = window("Pacific/Auckland", "10:00", "11:00", days=[7])
    # Sunday 10:00 in Auckland (NZDT, +13) is Saturday 21:00 UTC.
    assert sundays.next_open(utc(2026, 3, 2, 0, 0)) == utc(2026, 3, 7, 21, 0)


def test_the_engine_sends_at_the_first_valid_instant_of_a_dst_day(client_all, sink):
    schedule = {
        "timezone": "Europe/Berlin",
        "days": ALL_DAYS,
        "start_time": "02:30",
        "end_time": "05:00",
    }
    with time_machine.travel(utc(2026, 3, 28, 23, 0), tick=False) as clock:
        account = create_account(client_all, sink)
        campaign_id = create_campaign(client_all, [account], schedule=schedule)
        add_lead(client_all, campaign_id, "ann@example.com")
        activate(client_all, campaign_id)
        assert Lead.objects.get().next_send_at == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
        run_engine()
        assert sink.received == []
        clock.move_to(utc(2026, 3, 29, 0, 59, 59))
        run_engine()
        assert sink.received == []
        clock.move_to(utc(2026, 3, 29, 1, 0))
        run_engine()
        assert [r.rcpt_tos for r in sink.received] == [["ann@example.com"]]


def test_a_follow_up_due_outside_the_window_waits_for_the_next_opening(client_all, sink):
    schedule = {
        "timezone": "America/New_York",
        "days": [1, 2, 3, 4, 5],
        "start_time": "09:00",
        "end_time": "17:00",
    }
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "Two", "body": "2", "delay_days": 1},
    ]
    # Friday 2026-03-06, 16:30 EST: step 1 goes now; step 2 would be Saturday: Monday 09:00 EDT.
    with time_machine.travel(utc(2026, 3, 6, 21, 30), tick=False) as clock:
        campaign_id = create_campaign(
            client_all, [create_account(client_all, sink)], steps, schedule=schedule
        )
        add_lead(client_all, campaign_id, "ann@example.com")
        activate(client_all, campaign_id)
        run_engine()
        assert len(sink.received) == 1
        assert Lead.objects.get().next_send_at == utc(2026, 3, 9, 13, 0)
        clock.move_to(utc(2026, 3, 9, 12, 59))
        run_engine()
        assert len(sink.received) == 1
        clock.move_to(utc(2026, 3, 9, 13, 0))
        run_engine()
        assert [r.message["Subject"] for r in sink.received] == ["One", "Two"]


def test_leads_due_when_the_window_closes_wait_for_it_to_open(client_all, sink):
    schedule = {"timezone": "UTC", "days": ALL_DAYS, "start_time": "09:00", "end_time": "17:00"}
    with time_machine.travel(utc(2026, 3, 4, 16, 59, 59), tick=False) as clock:
        campaign_id = create_campaign(
            client_all, [create_account(client_all, sink)], schedule=schedule
        )
        add_lead(client_all, campaign_id, "ann@example.com")
        activate(client_all, campaign_id)
        clock.shift(timedelta(seconds=1))  # 17:00: closed
        run_engine()
        assert sink.received == []
        assert Lead.objects.get().next_send_at == utc(2026, 3, 5, 9, 0)
        clock.move_to(utc(2026, 3, 5, 9, 0))
        run_engine()
        assert len(sink.received) == 1
