"""Moving events and counters from campaigns to engagement (campaigns.0004, engagement.0001)
keeps every row and counter: migrate back to before the move, write rows there, migrate
forward, and read them through the new models. engagement.0002 then counts the leads with
each kind of event already there (the distinct-lead counters the rates divide)."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from engagement.models import CampaignCounter, CampaignEventSlot, EmailEvent, LeadFirstEvent

BEFORE = [("campaigns", "0003_counters")]
AT = dt.datetime(2025, 3, 3, 12, 7, tzinfo=dt.UTC)


def migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_move_to_engagement_keeps_events_and_counters():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = migrate(BEFORE)
    try:
        with pytest.raises(LookupError):
            old.get_model("engagement", "EmailEvent")
        workspace = old.get_model("apikeys", "Workspace").objects.create(slug="acme", name="Acme")
        campaign = old.get_model("campaigns", "Campaign").objects.create(
            workspace=workspace, name="Before the move"
        )
        lead = old.get_model("leads", "Lead").objects.create(
            workspace=workspace, campaign=campaign, email="a@example.com", status="CONTACTED"
        )
        OldEvent = old.get_model("campaigns", "EmailEvent")
        OldEvent.objects.bulk_create(
            [OldEvent(campaign=campaign, lead=lead, type="SENT", occurred_at=AT)] * 3
            + [OldEvent(campaign=campaign, lead=lead, type="OPENED", occurred_at=AT)]
        )
        counters = sorted(
            old.get_model("campaigns", "CampaignCounter")
            .objects.filter(campaign_id=campaign.pk)
            .values_list("key", "value")
        )
        assert counters == [("event:OPENED", 1), ("event:SENT", 3), ("lead:CONTACTED", 1)]
    finally:
        migrate(leaves)

    assert EmailEvent.objects.filter(campaign_id=campaign.pk, lead_id=lead.pk).count() == 4
    assert sorted(
        CampaignCounter.objects.filter(campaign_id=campaign.pk).values_list("key", "value")
    ) == [*counters, ("leads:OPENED", 1), ("leads:SENT", 1)]
    assert sorted(
        LeadFirstEvent.objects.filter(campaign_id=campaign.pk).values_list("type", "first_at")
    ) == [("OPENED", AT), ("SENT", AT)]
    [slot] = CampaignEventSlot.objects.filter(campaign_id=campaign.pk).values(
        "slot", "sent", "opened"
    )
    assert slot == {"slot": AT.replace(minute=0), "sent": 3, "opened": 1}
    # The triggers still count after the move.
    EmailEvent.objects.create(campaign_id=campaign.pk, lead_id=lead.pk, type="SENT", occurred_at=AT)
    assert CampaignCounter.objects.get(campaign_id=campaign.pk, key="event:SENT").value == 4
    assert CampaignCounter.objects.get(campaign_id=campaign.pk, key="leads:SENT").value == 1
