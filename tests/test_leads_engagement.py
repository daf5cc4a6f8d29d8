"""Lead engagement (API.md §5) from hand-made email events, on the detail and on list items,
and query counts that do not grow with the number of leads or events."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from engagement.models import EmailEvent
from leads.models import Lead
from tests.factories import make_lead
from tests.urls import api_url

LEADS = api_url("leads")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENT, OPENED, CLICKED, REPLIED, BOUNCED, UNSUBSCRIBED = list(EmailEvent.Type)[:6]


def add_events(lead: Lead, *events: tuple[str, datetime]) -> None:
    EmailEvent.objects.bulk_create(
        EmailEvent(campaign_id=lead.campaign_id, lead=lead, type=kind, occurred_at=when)
        for kind, when in events
    )


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def parsed(engagement: dict) -> dict:
    return {
        **engagement,
        "replied_at": engagement["replied_at"] and datetime.fromisoformat(engagement["replied_at"]),
        "last_contacted_at": engagement["last_contacted_at"]
        and datetime.fromisoformat(engagement["last_contacted_at"]),
    }


@pytest.fixture
def engaged_lead(campaign) -> Lead:
    lead = make_lead(campaign, email="ada@example.com")
    add_events(
        lead,
        (SENT, at(0)), (SENT, at(48)), (SENT, at(24)),  # last contact: the latest, not the last row
        (OPENED, at(1)), (OPENED, at(2)),
        (CLICKED, at(3)),
        (REPLIED, at(50)), (REPLIED, at(30)),  # first reply is the earliest
        (BOUNCED, at(60)), (UNSUBSCRIBED, at(61)),  # counted nowhere in engagement
    )  # fmt: skip
    bystander = make_lead(campaign, email="grace@example.com")
    add_events(bystander, (SENT, at(100)), (OPENED, at(101)), (REPLIED, at(5)))
    return lead


EXPECTED = {"sent": 3, "opened": 2, "clicked": 1, "replied_at": at(30), "last_contacted_at": at(48)}
NONE = {"sent": 0, "opened": 0, "clicked": 0, "replied_at": None, "last_contacted_at": None}


def test_detail_engagement_from_events(client_all, engaged_lead):
    response = client_all.get(f"{LEADS}/{engaged_lead.pk}")

    assert response.status_code == 200
    assert parsed(response.json()["engagement"]) == EXPECTED
    assert response.json()["engagement"]["replied_at"].endswith("Z")


def test_a_lead_without_events_has_empty_engagement(client_all, campaign):
    lead = make_lead(campaign, email="ada@example.com")

    assert client_all.get(f"{LEADS}/{lead.pk}").json()["engagement"] == NONE


def test_sent_only_lead(client_all, campaign):
    lead = make_lead(campaign, email="ada@example.com")
    add_events(lead, (SENT, at(5)))

    engagement = parsed(client_all.get(f"{LEADS}/{lead.pk}").json()["engagement"])

    assert engagement == {**NONE, "sent": 1, "last_contacted_at": at(5)}


def test_list_items_carry_each_leads_engagement(client_all, campaign, engaged_lead):
    quiet = make_lead(campaign, email="quiet@example.com")

    results = client_all.get(LEADS).json()["results"]

    by_email = {lead["email"]: parsed(lead["engagement"]) for lead in results}
    assert by_email["ada@example.com"] == EXPECTED
    assert by_email["grace@example.com"] == {
        "sent": 1, "opened": 1, "clicked": 0, "replied_at": at(5), "last_contacted_at": at(100),
    }  # fmt: skip
    assert by_email[quiet.email] == NONE


def count_queries(client, url: str) -> int:
    client.get(url)  # first use of a key records it; measure the steady state
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_leads_or_events(client_all, workspace):
    small = Campaign.objects.create(workspace=workspace, name="Small")
    large = Campaign.objects.create(workspace=workspace, name="Large")
    lead = make_lead(small, email="only@example.com")
    add_events(lead, (SENT, at(0)))
    for i in range(50):
        lead = make_lead(large, email=f"lead{i}@example.com")
        add_events(lead, (SENT, at(i)), (OPENED, at(i + 1)), (REPLIED, at(i + 2)))

    one = count_queries(client_all, f"{LEADS}?campaign_id={small.pk}")
    fifty = count_queries(client_all, f"{LEADS}?campaign_id={large.pk}&limit=50")

    assert one == fifty
    assert fifty <= 3  # the key, the page, the page's engagement


def test_detail_query_count_does_not_grow_with_events(client_all, campaign):
    quiet = make_lead(campaign, email="quiet@example.com")
    busy = make_lead(campaign, email="busy@example.com")
    add_events(busy, *[(kind, at(i)) for i in range(20) for kind in (SENT, OPENED, CLICKED)])

    assert count_queries(client_all, f"{LEADS}/{quiet.pk}") == count_queries(
        client_all, f"{LEADS}/{busy.pk}"
    )
    assert count_queries(client_all, f"{LEADS}/{busy.pk}") <= 3


def test_engagement_is_read_in_one_aggregate_query(client_all, engaged_lead):
    client_all.get(f"{LEADS}/{engaged_lead.pk}")
    with CaptureQueriesContext(connection) as queries:
        client_all.get(f"{LEADS}/{engaged_lead.pk}")

    event_queries = [q["sql"] for q in queries if "campaigns_emailevent" in q["sql"]]
    assert len(event_queries) == 1
