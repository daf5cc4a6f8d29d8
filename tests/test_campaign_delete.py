"""Deleting a campaign is cheap for the request whatever it holds: its events and leads go in one
statement each inside the database, never loaded row by row (issue 12, finding 10), in the same
transaction as the state check. After the 204 the campaign and its leads are 404; the counters
of other campaigns are untouched. bench/campaign_delete.py measures it with 100,000 leads."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from engagement.models import CampaignCounter, EmailEvent
from leads.models import Lead
from tests.factories import make_campaign
from tests.urls import api_url, campaign_url

LEADS = 300


def fill(campaign: Campaign, leads: int) -> list[Lead]:
    rows = Lead.objects.bulk_create(
        Lead(
            workspace_id=campaign.workspace_id,
            campaign=campaign,
            email=f"lead{n}@example.com",
            status=Lead.Status.CONTACTED if n % 2 else Lead.Status.PENDING,
        )
        for n in range(leads)
    )
    EmailEvent.objects.bulk_create(
        EmailEvent(campaign=campaign, lead=lead, type="SENT", occurred_at=lead.created_at)
        for lead in rows
    )
    return rows


@pytest.mark.parametrize("status", ["DRAFT", "PAUSED"])
def test_delete_takes_every_lead_and_event_without_loading_them(client_all, workspace, status):
    campaign = make_campaign(workspace, status=status, steps=2)
    leads = fill(campaign, LEADS)
    other = make_campaign(workspace)
    kept = fill(other, 3)
    counters = sorted(CampaignCounter.objects.filter(campaign=other).values_list("key", "value"))

    with CaptureQueriesContext(connection) as queries:
        response = client_all.delete(campaign_url(campaign))

    assert response.status_code == 204
    # A lead id in a query means the rows were loaded into Python to be cascaded one by one.
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    for lead in leads:
        assert lead.pk.hex not in sql
        assert str(lead.pk) not in sql
    assert len(queries.captured_queries) < 40  # whatever the number of leads
    assert client_all.get(campaign_url(campaign)).status_code == 404
    for lead in (leads[0], leads[-1]):
        assert client_all.get(api_url(f"leads/{lead.pk}")).status_code == 404
    assert not Lead.objects.filter(campaign_id=campaign.pk).exists()
    assert not EmailEvent.objects.filter(campaign_id=campaign.pk).exists()
    assert not CampaignCounter.objects.filter(campaign_id=campaign.pk).exists()
    assert client_all.get(api_url(f"leads/{kept[0].pk}")).status_code == 200
    assert sorted(CampaignCounter.objects.filter(campaign=other).values_list("key", "value")) == (
        counters
    )


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED"])
def test_a_refused_delete_keeps_everything(client_all, workspace, status):
    campaign = make_campaign(workspace, status=status)
    fill(campaign, 5)
    response = client_all.delete(campaign_url(campaign))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert Lead.objects.filter(campaign=campaign).count() == 5
    assert EmailEvent.objects.filter(campaign=campaign).count() == 5
    assert client_all.get(campaign_url(campaign)).json()["stats"]["leads_total"] == 5
