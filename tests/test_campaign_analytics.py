"""`campaigns/{id}/analytics`: totals, rates and a zero-filled daily series in the campaign's time
zone, against hand-placed events."""

import datetime as dt
import zoneinfo

import pytest

from campaigns.models import default_schedule
from tests.factories import make_campaign, make_events, make_lead
from tests.urls import campaign_url

UTC = dt.UTC
COUNTERS = ["sent", "opened", "clicked", "replied", "bounced", "unsubscribed"]


def zeros(**counts):
    return {**dict.fromkeys(COUNTERS, 0), **counts}


@pytest.fixture
def berlin_campaign(workspace):
    return make_campaign(workspace, schedule={**default_schedule(), "timezone": "Europe/Berlin"})


def analytics(client, campaign, **params):
    return client.get(campaign_url(campaign, "analytics"), params)


def test_days_are_those_of_the_campaigns_time_zone(client_all, berlin_campaign):
    campaign = berlin_campaign
    lead = make_lead(campaign)
    at = lambda *args: dt.datetime(*args, tzinfo=UTC)  # noqa: E731
    make_events(campaign, lead, "SENT", 2, at(2025, 2, 28, 22, 59))  # Feb 28 23:59 Berlin: out
    make_events(campaign, lead, "SENT", 3, at(2025, 2, 28, 23, 0))  # Mar 1 00:00 Berlin
    make_events(campaign, lead, "SENT", 1, at(2025, 3, 2, 23, 30))  # Mar 3 00:30 Berlin
    make_events(campaign, lead, "OPENED", 2, at(2025, 3, 3, 9, 0))
    make_events(campaign, lead, "CLICKED", 1, at(2025, 3, 3, 22, 59))  # Mar 3 23:59 Berlin
    make_events(campaign, lead, "REPLIED", 1, at(2025, 3, 5, 22, 0))  # Mar 5 23:00 Berlin
    make_events(campaign, lead, "BOUNCED", 1, at(2025, 3, 5, 23, 0))  # Mar 6 Berlin: out
    make_events(campaign, lead, "UNSUBSCRIBED", 1, at(2025, 3, 4, 12, 0))
    other = make_campaign(campaign.workspace)
    make_events(other, make_lead(other), "SENT", 5, at(2025, 3, 3, 12, 0))

    response = analytics(client_all, campaign, **{"from": "2025-03-01", "to": "2025-03-05"})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "campaign_id": str(campaign.pk),
        "timezone": "Europe/Berlin",
        "from": "2025-03-01",
        "to": "2025-03-05",
        "totals": zeros(sent=4, opened=2, clicked=1, replied=1, unsubscribed=1),
        # In leads: the one lead sent to in the range opened, clicked and replied.
        "rates": {"open_rate": 1.0, "click_rate": 1.0, "reply_rate": 1.0, "bounce_rate": 0.0},
        "daily": [
            {"date": "2025-03-01", **zeros(sent=3)},
            {"date": "2025-03-02", **zeros()},
            {"date": "2025-03-03", **zeros(sent=1, opened=2, clicked=1)},
            {"date": "2025-03-04", **zeros(unsubscribed=1)},
            {"date": "2025-03-05", **zeros(replied=1)},
        ],
    }


def test_the_same_events_fall_on_utc_days_for_a_utc_campaign(client_all, workspace):
    campaign = make_campaign(workspace)
    make_events(
        campaign, make_lead(campaign), "SENT", 1, dt.datetime(2025, 3, 2, 23, 30, tzinfo=UTC)
    )

    daily = analytics(client_all, campaign, **{"from": "2025-03-02", "to": "2025-03-03"}).json()

    assert [d["sent"] for d in daily["daily"]] == [1, 0]
    assert daily["timezone"] == "UTC"


def test_a_daylight_saving_day_is_one_day(client_all, berlin_campaign):
    campaign = berlin_campaign
    lead = make_lead(campaign)
    # 2025-03-30: Berlin goes from +01:00 to +02:00 at 02:00 local; the day has 23 hours.
    make_events(
        campaign, lead, "SENT", 1, dt.datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    )  # 30th 00:00
    make_events(campaign, lead, "SENT", 1, dt.datetime(2025, 3, 30, 21, 59, tzinfo=UTC))  # 23:59
    make_events(campaign, lead, "SENT", 1, dt.datetime(2025, 3, 30, 22, 0, tzinfo=UTC))  # 31st

    daily = analytics(client_all, campaign, **{"from": "2025-03-30", "to": "2025-03-31"}).json()

    assert [(d["date"], d["sent"]) for d in daily["daily"]] == [
        ("2025-03-30", 2),
        ("2025-03-31", 1),
    ]


def test_no_sends_gives_zeros(client_all, berlin_campaign):
    response = analytics(client_all, berlin_campaign, **{"from": "2025-01-01", "to": "2025-01-03"})

    assert response.status_code == 200
    data = response.json()
    assert data["totals"] == zeros()
    assert data["rates"] == {
        "open_rate": 0.0,
        "click_rate": 0.0,
        "reply_rate": 0.0,
        "bounce_rate": 0.0,
    }
    assert data["daily"] == [{"date": f"2025-01-0{d}", **zeros()} for d in (1, 2, 3)]


def test_rates_count_leads_and_are_rounded(client_all, workspace):
    campaign = make_campaign(workspace)
    leads = [make_lead(campaign) for _ in range(3)]
    for lead in leads:
        make_events(campaign, lead, "SENT")
    make_events(campaign, leads[0], "OPENED", 4)
    make_events(campaign, leads[1], "OPENED", 1)
    make_events(campaign, leads[0], "CLICKED", 2)
    make_events(campaign, leads[2], "CLICKED", 1)
    make_events(campaign, leads[1], "BOUNCED", 1)

    rates = analytics(client_all, campaign, **{"from": "2025-03-03", "to": "2025-03-03"}).json()[
        "rates"
    ]

    assert rates == {
        "open_rate": 0.6667,  # 2 leads of 3, whatever the number of opens
        "click_rate": 0.6667,
        "reply_rate": 0.0,
        "bounce_rate": 0.3333,
    }


def test_defaults_are_the_last_30_days_in_the_campaigns_time_zone(client_all, workspace):
    campaign = make_campaign(
        workspace, schedule={**default_schedule(), "timezone": "Pacific/Kiritimati"}
    )
    today = dt.datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()  # UTC+14
    make_events(campaign, make_lead(campaign), "SENT", 2, dt.datetime.now(UTC))

    data = analytics(client_all, campaign).json()

    assert data["to"] == today.isoformat()
    assert data["from"] == (today - dt.timedelta(days=29)).isoformat()
    assert len(data["daily"]) == 30
    assert data["daily"][-1] == {"date": today.isoformat(), **zeros(sent=2)}
    assert data["totals"]["sent"] == 2


def test_only_from_or_only_to(client_all, workspace):
    campaign = make_campaign(workspace)

    today = dt.datetime.now(UTC).date()
    week_ago = (today - dt.timedelta(days=6)).isoformat()

    only_to = analytics(client_all, campaign, to="2025-03-31").json()
    only_from = analytics(client_all, campaign, **{"from": week_ago}).json()

    assert (only_to["from"], only_to["to"], len(only_to["daily"])) == (
        "2025-03-02",
        "2025-03-31",
        30,
    )
    assert (only_from["from"], only_from["to"]) == (week_ago, today.isoformat())
    assert len(only_from["daily"]) == 7


def test_a_366_day_range_is_accepted(client_all, workspace):
    campaign = make_campaign(workspace)

    data = analytics(client_all, campaign, **{"from": "2024-01-01", "to": "2024-12-31"}).json()

    assert len(data["daily"]) == 366


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-13-01", "to": "2025-12-31"}, "from"),
        ({"from": "yesterday", "to": "2025-12-31"}, "from"),
        ({"from": "2025-01-01", "to": "2025-02-30"}, "to"),
        ({"from": "2025-01-01", "to": "01/02/2025"}, "to"),
        ({"from": "2025-01-01", "to": ""}, "to"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "to"),  # 367 days
        ({"from": "1990-01-01", "to": "2100-01-01"}, "to"),
    ],
)
def test_bad_parameters_are_400_with_field_errors(client_all, workspace, params, field):
    campaign = make_campaign(workspace)

    response = analytics(client_all, campaign, **params)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert isinstance(response.json()[field], list)


def test_another_workspaces_campaign_is_404_before_parameters_are_checked(
    client_all, other_workspace
):
    theirs = make_campaign(other_workspace)

    response = analytics(client_all, theirs, **{"from": "bad"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_analytics_needs_campaigns_read(make_client, workspace):
    campaign = make_campaign(workspace)

    denied = make_client(["campaigns:update"]).get(campaign_url(campaign, "analytics"))
    allowed = make_client(["campaigns:read"]).get(campaign_url(campaign, "analytics/"))

    assert denied.status_code == 403
    assert denied.json()["required"] == ["campaigns:read"]
    assert allowed.status_code == 200


def test_analytics_answers_get_only(client_all, workspace):
    campaign = make_campaign(workspace)

    assert client_all.post(campaign_url(campaign, "analytics")).status_code == 405


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=9999-12-31&to=9999-12-31", "from"),
        ("from=2026-01-01&to=9999-12-31", "to"),
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("to=0001-01-02", "to"),
    ],
)
def test_dates_outside_the_supported_years_are_400(query, field, client_all, workspace):
    campaign = make_campaign(workspace)
    response = client_all.get(f"{campaign_url(campaign)}/analytics?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]
