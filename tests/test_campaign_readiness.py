"""One rule, one text: "an ACTIVE campaign keeps at least one sender account and one step" is
answered with the same words by activate (409 `not_ready`), by an edit of an ACTIVE campaign
(409 `invalid_state`: a state rule, API.md §3) and by the admin."""

from campaigns.models import Campaign, CampaignStep
from sender_accounts.models import SenderAccount
from tests.builders import api_url, schedule_fields

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


def test_an_api_edit_that_empties_an_active_campaign_says_the_same(client_all, workspace):
    campaign = active_campaign(workspace)
    response = client_all.patch(
        api_url(f"campaigns/{campaign.pk}"),
        {"name": "Renamed", "steps": [], "sender_account_ids": []},
        format="json",
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{ACTIVE_NEEDS} {NO_SENDER} {NO_STEP}",
        "code": "invalid_state",
        "status": "ACTIVE",
        "allowed": ["DRAFT", "PAUSED"],
        "problems": [NO_SENDER, NO_STEP],
    }
    campaign.refresh_from_db()
    assert campaign.name == "Live"
    assert campaign.steps.count() == 1
    assert campaign.sender_accounts.count() == 1


def test_the_admin_says_the_same(admin_client, workspace):
    campaign = active_campaign(workspace)
    step = campaign.steps.get()
    form = {
        "name": "Renamed", "daily_limit": "50", "stop_on_reply": "on",
        **schedule_fields(
            {"timezone": "UTC", "days": [1], "start_time": "09:00", "end_time": "17:00"}
        ),
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "1", "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000", "steps-0-id": str(step.pk), "steps-0-campaign":
        str(campaign.pk), "steps-0-position": "1", "steps-0-subject": "Hi", "steps-0-body": "Hello",
        "steps-0-delay_days": "0", "steps-0-DELETE": "on", "_save": "Save",
    }  # fmt: skip
    response = admin_client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/", form, follow=True
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        f"{ACTIVE_NEEDS} {NO_SENDER} {NO_STEP}"
    ]
    campaign.refresh_from_db()
    assert campaign.name == "Live"
    assert campaign.steps.count() == 1
