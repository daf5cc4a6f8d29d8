"""`stats` on a campaign (API.md §5) against hand-counted rows, and constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_campaign, make_events, make_lead
from tests.urls import campaign_url


def test_stats_count_leads_by_status_and_events_by_type(client_all, workspace):
    campaign = make_campaign(workspace)
    statuses = ["PENDING"] * 4 + ["CONTACTED"] * 3 + ["REPLIED"] * 2 + ["BOUNCED"]
    leads = [make_lead(campaign, status) for status in statuses]
    for lead in leads[1:]:
        make_events(campaign, lead, "SENT")
    make_events(campaign, leads[1], "OPENED", 3)  # rates count leads, not events
    make_events(campaign, leads[2], "OPENED", 2)
    make_events(campaign, leads[1], "CLICKED", 2)
    for lead in leads[1:4]:
        make_events(campaign, lead, "REPLIED")
    make_events(campaign, leads[9], "BOUNCED", 1)
    make_events(campaign, leads[4], "UNSUBSCRIBED", 1)
    noise = make_campaign(workspace)  # another campaign's rows must not count
    make_events(noise, make_lead(noise, "COMPLETED"), "SENT", 7)

    stats = client_all.get(campaign_url(campaign)).json()["stats"]

    assert stats == {
        "leads_total": 10,
        "leads_by_status": {
            "PENDING": 4,
            "CONTACTED": 3,
            "REPLIED": 2,
            "BOUNCED": 1,
            "UNSUBSCRIBED": 0,
            "COMPLETED": 0,
            "FAILED": 0,
        },
        "sent": 9,
        "opened": 5,
        "clicked": 2,
        "replied": 3,
        "bounced": 1,
        "unsubscribed": 1,
        "open_rate": 0.2222,  # 2 leads of 9
        "click_rate": 0.1111,  # 1/9
        "reply_rate": 0.3333,  # 3/9
        "bounce_rate": 0.1111,  # 1/9
    }


def test_rates_are_zero_when_nothing_was_sent(client_all, workspace):
    campaign = make_campaign(workspace)
    make_events(campaign, make_lead(campaign), "OPENED", 3)

    stats = client_all.get(campaign_url(campaign)).json()["stats"]

    assert stats["sent"] == 0
    assert stats["opened"] == 3
    assert (stats["open_rate"], stats["reply_rate"], stats["bounce_rate"]) == (0, 0, 0)


def test_rates_are_capped_to_one(client_all, workspace):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign)
    make_events(campaign, lead, "SENT", 2)
    make_events(campaign, lead, "OPENED", 7)  # an email opened many times
    make_events(campaign, lead, "REPLIED", 2)

    stats = client_all.get(campaign_url(campaign)).json()["stats"]

    assert (stats["open_rate"], stats["reply_rate"], stats["bounce_rate"]) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize("action", ["activate", "pause"])
def test_transition_answers_carry_stats(client_all, workspace, action):
    campaign = make_campaign(workspace, status="PAUSED" if action == "activate" else "ACTIVE")
    make_lead(campaign, "CONTACTED")

    stats = client_all.post(campaign_url(campaign, action)).json()["stats"]

    assert stats["leads_total"] == 1
    assert stats["leads_by_status"]["CONTACTED"] == 1


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_retrieve_makes_the_same_number_of_queries_for_1_or_many_rows(client_all, workspace):
    small = make_campaign(workspace, senders=1, steps=1)
    make_events(small, make_lead(small), "SENT")
    make_events(small, make_lead(small, "BOUNCED"), "BOUNCED")
    big = make_campaign(workspace, senders=5, steps=20)
    for status in ["PENDING", "CONTACTED", "REPLIED", "BOUNCED", "UNSUBSCRIBED"] * 4:
        lead = make_lead(big, status)
        for kind in ["SENT", "OPENED", "CLICKED", "REPLIED", "BOUNCED", "UNSUBSCRIBED"]:
            make_events(big, lead, kind, 2)
    client_all.get(campaign_url(small))  # the key's usage is recorded once, on first use

    assert count_queries(client_all, campaign_url(small)) == count_queries(
        client_all, campaign_url(big)
    )
    # The key lookup, the campaign, its steps, its sender accounts, leads and events, and the
    # bounced leads never sent to (the bounce rate's attempted leads).
    assert count_queries(client_all, campaign_url(big)) <= 7


def test_list_makes_the_same_number_of_queries_for_1_or_20_campaigns(
    client_all, workspace, other_workspace
):
    make_campaign(workspace, senders=2, steps=3)
    client_all.get(campaign_url())
    one = count_queries(client_all, campaign_url())
    for _ in range(19):
        campaign = make_campaign(workspace, senders=2, steps=3)
        make_events(campaign, make_lead(campaign), "SENT")

    assert count_queries(client_all, campaign_url()) == one
    assert count_queries(client_all, campaign_url() + "?limit=100") == one
    assert one <= 4  # key, page, steps, sender accounts


def test_analytics_makes_the_same_number_of_queries_whatever_the_events(client_all, workspace):
    campaign = make_campaign(workspace)
    url = campaign_url(campaign, "analytics") + "?from=2025-03-01&to=2025-03-31"
    client_all.get(url)
    none = count_queries(client_all, url)
    lead = make_lead(campaign)
    for kind in ["SENT", "OPENED", "CLICKED"]:
        make_events(campaign, lead, kind, 5)

    assert count_queries(client_all, url) == none
