"""What happens to sending when leads come and go outside the API's happy path: the last lead
with something to send deleted (the campaign completes), a lead added in the admin (scheduled
like one added through the API), and a pause whose unscheduling arrives after a new activation
(the new schedule stands), a lead deleted while its first message is on the wire (the others go
on)."""

import pytest
from django.db import connections
from rest_framework.test import APIClient

from campaigns.models import Campaign
from delivery import rescheduling
from delivery.models import Message
from leads.models import Lead
from tests.delivery_support import (
    activate,
    add_leads,
    campaign,
    create_account,
    create_campaign,
    pause,
    run_engine,
)
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")


def test_deleting_the_last_lead_left_to_send_completes_the_campaign(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], daily_limit=1)
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}, {"email": "bob@example.com"}])
    activate(client_all, campaign_id)
    run_engine()  # the campaign's daily limit lets one of the two go
    waiting = Lead.objects.get(campaign_id=campaign_id, status=Lead.Status.PENDING)
    assert campaign(client_all, campaign_id)["status"] == "ACTIVE"

    response = client_all.delete(api_url(f"leads/{waiting.pk}"))

    assert response.status_code == 204
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"


def test_a_lead_added_in_the_admin_is_scheduled_like_one_added_through_the_api(
    client_all, superuser_client, sink, clock
):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}])
    activate(client_all, campaign_id)
    run_engine()

    response = superuser_client.post(
        "/admin/leads/lead/add/",
        {"campaign": campaign_id, "email": "bob@example.com", "first_name": "", "last_name": "",
         "company": "", "custom_fields": "{}", "messages-TOTAL_FORMS": "0",
         "messages-INITIAL_FORMS": "0", "messages-MIN_NUM_FORMS": "0",
         "messages-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:2000]
    lead = client_all.get(api_url("leads?email=bob@example.com")).json()["results"][0]
    assert lead["next_send_at"] is not None
    run_engine()
    assert [r.message["To"] for r in sink.received][-1] == "bob@example.com"


def test_a_late_unschedule_does_not_undo_a_new_activation(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}])
    activate(client_all, campaign_id)
    pause(client_all, campaign_id)
    activate(client_all, campaign_id)

    # The first pause's unscheduling, arriving only now (it runs after pause has answered).
    rescheduling.unschedule_campaign(Campaign.objects.get(pk=campaign_id))

    lead = client_all.get(api_url(f"leads?campaign_id={campaign_id}")).json()["results"][0]
    assert lead["next_send_at"] is not None
    run_engine()
    assert len(sink.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_lead_deleted_while_its_message_is_on_the_wire_stops_nothing_else(
    client_all, sink, clock
):
    """DELETE of a PENDING lead answers 204 even while its first message is being sent; the
    message still goes (the transaction had started), and the worker records nothing for the
    gone lead and sends the others."""
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    addresses = ["gone@example.com", "ann@example.com", "bob@example.com"]
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    activate(client_all, campaign_id)
    gone = Lead.objects.get(email="gone@example.com").pk
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=client_all._credentials["HTTP_X_API_KEY"])
    answers = []

    def on_rcpt(address: str) -> None:  # after the gate's commit, before DATA
        if address == "gone@example.com":
            try:
                answers.append(other.delete(api_url(f"leads/{gone}")).status_code)
            finally:
                connections.close_all()  # this thread's connection

    sink.on_rcpt = on_rcpt
    run_engine()

    assert answers == [204]
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(addresses)
    assert not Lead.objects.filter(pk=gone).exists()
    assert not Message.objects.filter(lead_id=gone).exists()
    assert set(Lead.objects.values_list("status", flat=True)) == {"COMPLETED"}
    body = campaign(client_all, campaign_id)
    assert body["status"] == "COMPLETED"
    assert body["stats"]["sent"] == 2  # the gone lead's send is not counted
