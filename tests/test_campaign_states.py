"""The status machine (API.md §5): every action and every state, generated from the table the code
uses, plus the `not_ready` rule and what a delete takes with it."""

import pytest

from campaigns.models import Campaign, CampaignStep
from campaigns.transitions import TRANSITIONS
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.factories import make_campaign, make_events, make_lead
from tests.urls import campaign_url

STATUSES = list(Campaign.Status.values)
# The transitions a client asks for; `complete` and `reopen` are the engine's (tests/test_doors.py).
API_ACTIONS = ["activate", "pause", "delete"]


def send(client, action: str, campaign: Campaign):
    if action == "delete":
        return client.delete(campaign_url(campaign))
    return client.post(campaign_url(campaign, action))


def test_the_table_is_the_contract():
    """API.md §5 written out by hand, so the table the code and the tests share cannot drift."""
    assert {a: (sorted(t.allowed_from), t.result) for a, t in TRANSITIONS.items()} == {
        "activate": (["DRAFT", "PAUSED"], "ACTIVE"),
        "pause": (["ACTIVE"], "PAUSED"),
        "delete": (["DRAFT", "PAUSED"], None),
        "complete": (["ACTIVE"], "COMPLETED"),
        "reopen": (["COMPLETED"], "ACTIVE"),
    }


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", API_ACTIONS)
def test_every_action_from_every_state(client_all, workspace, action, status):
    campaign = make_campaign(workspace, status=status)
    before = Campaign.objects.get(pk=campaign.pk).updated_at
    rule = TRANSITIONS[action]

    response = send(client_all, action, campaign)

    stored = Campaign.objects.filter(pk=campaign.pk).first()
    if status == rule.result:  # the same state again: a 200 that changes nothing
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        assert response.json()["id"] == str(campaign.pk)
        assert stored.status == status
        assert stored.updated_at == before
    elif status in rule.allowed_from and rule.result is None:
        assert response.status_code == 204, response.content
        assert response.content == b""
        assert stored is None
    elif status in rule.allowed_from:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == rule.result
        assert body["id"] == str(campaign.pk)
        assert "stats" in body
        assert stored.status == rule.result
        assert stored.updated_at > before
    else:
        assert response.status_code == 409, response.content
        assert response.json() == {
            "detail": f"Cannot {action} a campaign in status {status}.",
            "code": "invalid_state",
            "status": status,
            "allowed": sorted(rule.allowed_from),
        }
        assert stored.status == status
        assert stored.updated_at == before


@pytest.mark.parametrize("status", ["DRAFT", "PAUSED"])
@pytest.mark.parametrize(
    ("senders", "steps", "problems"),
    [
        (0, 1, ["The campaign has no sender account."]),
        (1, 0, ["The campaign has no step."]),
        (0, 0, ["The campaign has no sender account.", "The campaign has no step."]),
    ],
)
def test_activation_needs_a_sender_account_and_a_step(
    client_all, workspace, status, senders, steps, problems
):
    campaign = make_campaign(workspace, status=status, senders=senders, steps=steps)

    response = client_all.post(campaign_url(campaign, "activate"))

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The campaign is not ready to be activated.",
        "code": "not_ready",
        "problems": problems,
        "status": status,
        "allowed": ["DRAFT", "PAUSED"],
    }
    assert Campaign.objects.get(pk=campaign.pk).status == status


def test_invalid_state_is_reported_before_readiness(client_all, workspace):
    campaign = make_campaign(workspace, status="COMPLETED", senders=0, steps=0)

    response = client_all.post(campaign_url(campaign, "activate"))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_an_active_campaign_activated_again_is_a_no_op_even_if_not_ready(client_all, workspace):
    campaign = make_campaign(workspace, status="ACTIVE", senders=0, steps=0)

    response = client_all.post(campaign_url(campaign, "activate"))

    assert response.status_code == 200
    assert response.json()["status"] == "ACTIVE"


def test_activate_then_pause_then_activate_through_the_api(client_all, workspace):
    campaign = make_campaign(workspace)

    assert client_all.post(campaign_url(campaign, "activate")).json()["status"] == "ACTIVE"
    assert client_all.post(campaign_url(campaign, "pause")).json()["status"] == "PAUSED"
    assert client_all.post(campaign_url(campaign, "activate/")).json()["status"] == "ACTIVE"
    assert Campaign.objects.get(pk=campaign.pk).status == "ACTIVE"


def test_delete_takes_steps_leads_and_events_but_not_sender_accounts(client_all, workspace):
    campaign = make_campaign(workspace, status="PAUSED", senders=2, steps=3)
    kept = make_campaign(workspace)
    for _ in range(3):
        lead = make_lead(campaign)
        make_events(campaign, lead, "SENT", 2)
    make_events(kept, make_lead(kept), "SENT")

    assert client_all.delete(campaign_url(campaign)).status_code == 204

    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not CampaignStep.objects.filter(campaign_id=campaign.pk).exists()
    assert not Lead.objects.filter(campaign_id=campaign.pk).exists()
    assert not EmailEvent.objects.filter(campaign_id=campaign.pk).exists()
    assert SenderAccount.objects.filter(workspace=workspace).count() == 3
    assert (Lead.objects.count(), EmailEvent.objects.count(), CampaignStep.objects.count()) == (
        1,
        1,
        1,
    )
    assert client_all.get(campaign_url(campaign)).status_code == 404


@pytest.mark.parametrize(
    ("action", "scope"), [("pause", "campaigns:pause"), ("activate", "campaigns:activate")]
)
def test_each_action_needs_its_own_scope(make_client, workspace, action, scope):
    campaign = make_campaign(workspace, status="ACTIVE" if action == "pause" else "DRAFT")
    client = make_client(["campaigns:read", "campaigns:update"])

    response = client.post(campaign_url(campaign, action))

    assert response.status_code == 403
    assert response.json() == {
        "detail": f"Missing required scopes: {scope}",
        "required": [scope],
        "granted": ["campaigns:read", "campaigns:update"],
    }
    assert make_client([scope]).post(campaign_url(campaign, action)).status_code == 200
