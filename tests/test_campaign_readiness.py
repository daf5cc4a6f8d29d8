"""One rule, one text: "a campaign needs at least one sender account and one step" is what
activate names (409 `not_ready`). Edits cannot break it while a campaign sends: its steps and
sender accounts change only while DRAFT or PAUSED, in the API (test_campaign_crud.py) and in
the admin (test_admin_isolation.py)."""

from campaigns.models import Campaign, CampaignStep
from sender_accounts.models import SenderAccount
from tests.urls import api_url

ACTIVE_NEEDS = "An ACTIVE campaign needs at least one sender account and one step; pause it first."
NO_SENDER = "The campaign has no sender account."
NO_STEP = "The campaign has no step."


def active_campaign(workspace) -> Campaign:
    campaign = Campaign.objects.create(
        workspace=workspace, name="Live", status=Campaign.Status.ACTIVE
    )
    campaign.sender_accounts.add(
        SenderAccount.objects.create(
            workspace=workspace, type=SenderAccount.Type.NATIVE, email="out@acme.test"
        )
    )
    CampaignStep.objects.create(campaign=campaign, position=1, subject="Hi", body="Hello")
    return campaign


def test_activate_names_the_problems(client_all, campaign):
    response = client_all.post(api_url(f"campaigns/{campaign.pk}/activate"))
    assert response.status_code == 409
    assert response.json()["problems"] == [NO_SENDER, NO_STEP]
