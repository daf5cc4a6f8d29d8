"""The Django admin keeps the API's rules: an object stays in its workspace, a campaign only uses
its own workspace's sender accounts, and campaign deletes and edits go through the state rules."""

import pytest
from django.contrib import admin
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import RequestFactory

from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.admin_forms import campaign_form, schedule_fields
from tests.factories import make_campaign, make_events, make_lead, make_sender
from tests.urls import api_url

CAMPAIGNS = "/admin/campaigns/campaign/"
SENDERS = "/admin/sender_accounts/senderaccount/"
Status = Campaign.Status


def change_url(campaign: Campaign) -> str:
    return f"{CAMPAIGNS}{campaign.pk}/change/"


def add_form(workspace, **changes) -> dict:
    data = {
        "name": "Added",
        "workspace": str(workspace.pk),
        "daily_limit": "50",
        **schedule_fields(
            {"timezone": "UTC", "days": [1], "start_time": "09:00", "end_time": "17:00"}
        ),
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def api(make_client, ws):
    return make_client(["*"], ws)


def sender_account_ids(campaign: Campaign) -> set[str]:
    return {str(pk) for pk in campaign.sender_accounts.values_list("pk", flat=True)}


# 1. An object stays in its workspace.


def test_campaign_workspace_is_editable_on_add_and_read_only_on_change(superuser_client, workspace):
    assert 'name="workspace"' in superuser_client.get(f"{CAMPAIGNS}add/").content.decode()
    campaign = make_campaign(workspace)

    html = superuser_client.get(change_url(campaign)).content.decode()

    assert 'name="workspace"' not in html
    assert workspace.slug in html


def test_campaign_change_cannot_move_it_and_its_leads_stay_with_it(
    superuser_client, workspace, other_workspace, make_client
):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign)

    response = superuser_client.post(
        change_url(campaign), campaign_form(campaign, workspace=str(other_workspace.pk), name="N")
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.name == "N"  # the rest of the form is applied
    assert campaign.workspace_id == workspace.pk
    assert Lead.objects.get(pk=lead.pk).workspace_id == workspace.pk
    ours, theirs = api(make_client, workspace), api(make_client, other_workspace)
    assert [item["id"] for item in ours.get(api_url("leads")).json()["results"]] == [str(lead.pk)]
    assert theirs.get(api_url("leads")).json()["results"] == []
    assert theirs.get(api_url(f"campaigns/{campaign.pk}")).status_code == 404


def test_sender_account_workspace_is_read_only_on_change(
    superuser_client, workspace, other_workspace
):
    assert 'name="workspace"' in superuser_client.get(f"{SENDERS}add/").content.decode()
    account = make_sender(workspace)
    campaign = make_campaign(workspace, senders=0)
    campaign.sender_accounts.add(account)
    url = f"{SENDERS}{account.pk}/change/"
    assert 'name="workspace"' not in superuser_client.get(url).content.decode()

    response = superuser_client.post(
        url,
        {
            "workspace": str(other_workspace.pk),
            "type": "NATIVE",
            "email": account.email,
            "display_name": "Renamed",
            "daily_limit": "50",
            "min_interval_seconds": "180",
            "max_interval_seconds": "300",
            "status": "ACTIVE",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.display_name == "Renamed"
    assert account.workspace_id == workspace.pk


# 2. A campaign only uses its own workspace's sender accounts.


def test_change_page_offers_only_the_campaigns_workspace_accounts(
    superuser_client, workspace, other_workspace
):
    campaign = make_campaign(workspace)
    ours = make_sender(workspace)
    theirs = make_sender(other_workspace)

    form = superuser_client.get(change_url(campaign)).context["adminform"].form
    offered = {
        str(pk) for pk in form.fields["sender_accounts"].queryset.values_list("pk", flat=True)
    }

    assert str(ours.pk) in offered
    assert str(theirs.pk) not in offered
    assert offered == {str(a.pk) for a in SenderAccount.objects.filter(workspace=workspace)}


def test_change_refuses_another_workspaces_account(superuser_client, workspace, other_workspace):
    campaign = make_campaign(workspace)
    before = sender_account_ids(campaign)
    theirs = make_sender(other_workspace)

    response = superuser_client.post(
        change_url(campaign),
        campaign_form(campaign, sender_accounts=[*before, str(theirs.pk)]),
    )

    assert response.status_code == 200
    assert "sender_accounts" in response.context["adminform"].form.errors
    assert sender_account_ids(campaign) == before


def test_add_refuses_an_account_of_another_workspace(superuser_client, workspace, other_workspace):
    ours, theirs = make_sender(workspace), make_sender(other_workspace)
    page = superuser_client.get(f"{CAMPAIGNS}add/").content.decode()
    assert f"{ours} — acme" in page  # the workspace is not chosen yet: every account, labelled
    assert f"{theirs} — globex" in page

    response = superuser_client.post(
        f"{CAMPAIGNS}add/", add_form(workspace, sender_accounts=[str(ours.pk), str(theirs.pk)])
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"sender_accounts"}
    assert theirs.email in errors["sender_accounts"][0]
    assert not Campaign.objects.exists()

    response = superuser_client.post(
        f"{CAMPAIGNS}add/", add_form(workspace, sender_accounts=[str(ours.pk)])
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.workspace_id, campaign.status) == (workspace.pk, Status.DRAFT)
    assert sender_account_ids(campaign) == {str(ours.pk)}


# 3. The 409 `in_use` body names only the account's own workspace's campaigns.


def test_in_use_body_never_names_another_workspaces_campaign(
    workspace, other_workspace, make_client
):
    account = make_sender(workspace)
    ours = make_campaign(workspace, status=Status.ACTIVE, senders=0)
    theirs = make_campaign(other_workspace, status=Status.ACTIVE, senders=0)
    # A link across workspaces that the API never makes (an old admin edit could).
    for campaign in (ours, theirs):
        campaign.sender_accounts.add(account)

    response = api(make_client, workspace).delete(api_url(f"sender_accounts/{account.pk}"))

    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert response.json()["campaigns"] == [str(ours.pk)]
    assert SenderAccount.objects.filter(pk=account.pk).exists()


# 4. Campaign deletes and edits go through the state rules.


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.COMPLETED])
def test_admin_refuses_to_delete_a_campaign_the_state_machine_keeps(
    superuser_client, workspace, status
):
    campaign = make_campaign(workspace, status=status)
    url = f"{CAMPAIGNS}{campaign.pk}/delete/"

    page = superuser_client.get(url)
    assert page.status_code == 200
    assert f"is {status}: only DRAFT or PAUSED campaigns can be deleted" in page.content.decode()

    response = superuser_client.post(url, {"post": "yes"})

    assert response.status_code == 200  # the "cannot delete" page again
    assert Campaign.objects.filter(pk=campaign.pk).exists()


@pytest.mark.parametrize("status", [Status.DRAFT, Status.PAUSED])
def test_admin_deletes_a_draft_or_paused_campaign_with_its_rows(
    superuser_client, workspace, status
):
    campaign = make_campaign(workspace, status=status)
    make_events(campaign, make_lead(campaign), EmailEvent.Type.SENT, count=2)

    response = superuser_client.post(f"{CAMPAIGNS}{campaign.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Lead.objects.exists()
    assert not EmailEvent.objects.exists()
    assert not CampaignStep.objects.exists()
    assert SenderAccount.objects.count() == 1


def test_bulk_delete_refuses_while_one_campaign_is_active(superuser_client, workspace):
    draft = make_campaign(workspace)
    active = make_campaign(workspace, status=Status.ACTIVE)
    paused = make_campaign(workspace, status=Status.PAUSED)
    selected = {"action": "delete_selected", "post": "yes"}

    response = superuser_client.post(
        CAMPAIGNS, {**selected, "_selected_action": [str(draft.pk), str(active.pk)]}
    )

    assert response.status_code == 200
    assert "is ACTIVE: only DRAFT or PAUSED campaigns can be deleted" in response.content.decode()
    assert Campaign.objects.count() == 3

    response = superuser_client.post(
        CAMPAIGNS, {**selected, "_selected_action": [str(draft.pk), str(paused.pk)]}
    )

    assert response.status_code == 302
    assert list(Campaign.objects.values_list("pk", flat=True)) == [active.pk]


def test_a_delete_that_loses_the_race_to_an_activation_is_refused(workspace, admin_user):
    """The confirmation page checked the state; an activation may commit before the delete."""
    campaign_admin = admin.site._registry[Campaign]
    campaign = make_campaign(workspace)
    stale = Campaign.objects.get(pk=campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.ACTIVE)
    request = RequestFactory().post(CAMPAIGNS)
    request.user = admin_user
    request._messages = CookieStorage(request)

    campaign_admin.delete_model(request, stale)
    campaign_admin.delete_queryset(request, Campaign.objects.filter(pk=campaign.pk))

    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert [str(m) for m in request._messages] == [
        f"{campaign.name}: Cannot delete a campaign in status ACTIVE."
    ] * 2


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"delete_steps": [1, 2]}, "The campaign has no step."),
        ({"sender_accounts": []}, "The campaign has no sender account."),
    ],
)
def test_an_active_campaign_cannot_be_emptied(superuser_client, workspace, changes, problem):
    campaign = make_campaign(workspace, status=Status.ACTIVE, senders=2, steps=2)
    accounts = sender_account_ids(campaign)

    response = superuser_client.post(
        change_url(campaign), campaign_form(campaign, name="Renamed", **changes), follow=True
    )

    assert response.status_code == 200
    # The API's own refusal (the admin calls the same action).
    [message] = messages_of(response)
    assert message.startswith("Cannot change ")
    assert message.endswith(" of a campaign in status ACTIVE; pause it first.")
    assert problem  # emptying is one such change
    campaign.refresh_from_db()
    assert campaign.name != "Renamed"  # nothing of the edit is kept
    assert campaign.status == Status.ACTIVE
    assert campaign.steps.count() == 2
    assert sender_account_ids(campaign) == accounts


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.COMPLETED])
def test_a_sending_campaign_keeps_its_steps_and_accounts_but_takes_other_edits(
    superuser_client, workspace, status
):
    campaign = make_campaign(workspace, status=status, senders=2, steps=2)
    accounts = sender_account_ids(campaign)
    keep = sorted(accounts)[:1]

    refused = superuser_client.post(
        change_url(campaign),
        campaign_form(campaign, delete_steps=[2], sender_accounts=keep),
        follow=True,
    )

    assert messages_of(refused) == [
        f"Cannot change steps and sender_account_ids of a campaign in status {status}; "
        "pause it first."
    ]
    assert list(campaign.steps.values_list("position", flat=True)) == [1, 2]
    assert sender_account_ids(campaign) == accounts

    renamed = superuser_client.post(change_url(campaign), campaign_form(campaign, name="Renamed"))

    assert renamed.status_code == 302, renamed.content.decode()[:3000]
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) == ("Renamed", status)


@pytest.mark.parametrize("status", [Status.DRAFT, Status.PAUSED])
def test_a_draft_or_paused_campaign_can_be_emptied(superuser_client, workspace, status):
    campaign = make_campaign(workspace, status=status, senders=1, steps=2)

    response = superuser_client.post(
        change_url(campaign), campaign_form(campaign, delete_steps=[1, 2], sender_accounts=[])
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not campaign.steps.exists()
    assert not campaign.sender_accounts.exists()
