"""The campaign's sending fields over HTTP (API.md §5, §7 "New fields"): include_unsubscribe_link,
tracking, max_bounce_rate, the read-only paused_reason; step 1 needs a subject; steps and sender
accounts change only while DRAFT or PAUSED; pause and activate move the leads' next_send_at."""

from datetime import UTC, datetime

import pytest

from campaigns.models import Campaign
from coldsend.api.strict import NOT_A_BOOLEAN
from leads.models import Lead
from tests.delivery_support import (
    WEDNESDAY_NOON,
    activate,
    add_leads,
    create_account,
    create_campaign,
    run_engine,
)
from tests.factories import make_campaign, make_lead, make_sender, stored
from tests.request_bodies import campaign_body
from tests.urls import campaign_url


def sending_fields(campaign: Campaign) -> dict:
    campaign = Campaign.objects.get(pk=campaign.pk)
    return {
        "include_unsubscribe_link": campaign.include_unsubscribe_link,
        "tracking": campaign.tracking,
        "max_bounce_rate": campaign.max_bounce_rate,
        "paused_reason": campaign.paused_reason,
    }


def test_defaults(client_all):
    response = client_all.post(campaign_url(), {"name": "Defaults"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in sending_fields(Campaign.objects.get())} == {
        "include_unsubscribe_link": True,
        "tracking": {"opens": False, "clicks": False},
        "max_bounce_rate": 0.05,
        "paused_reason": None,
    }


def test_create_and_read_back_every_sending_field(client_all):
    tracking = {"opens": True, "clicks": True}
    body = campaign_body(include_unsubscribe_link=False, tracking=tracking, max_bounce_rate=0.2)

    created = client_all.post(campaign_url(), body, format="json")

    assert created.status_code == 201, created.content
    fetched = client_all.get(campaign_url(created.json()["id"])).json()
    for data in (created.json(), fetched):
        assert data["include_unsubscribe_link"] is False
        assert data["tracking"] == {"opens": True, "clicks": True}
        assert data["max_bounce_rate"] == 0.2
    assert sending_fields(Campaign.objects.get()) == {
        "include_unsubscribe_link": False,
        "tracking": {"opens": True, "clicks": True},
        "max_bounce_rate": 0.2,
        "paused_reason": None,
    }


def test_tracking_is_replaced_whole_and_an_omitted_key_is_false(client_all, workspace):
    campaign = make_campaign(workspace, tracking={"opens": True, "clicks": True})

    response = client_all.patch(
        campaign_url(campaign), {"tracking": {"clicks": True}}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["tracking"] == {"opens": False, "clicks": True}
    assert sending_fields(campaign)["tracking"] == {"opens": False, "clicks": True}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"tracking": {"opens": True, "pixel": 1}}, {"tracking": {"pixel": ["Unknown field."]}}),
        ({"tracking": {"opens": "yes"}}, {"tracking": {"opens": ["Must be true or false."]}}),
        ({"tracking": {"clicks": None}}, {"tracking": {"clicks": ["This field may not be null."]}}),
        ({"tracking": True}, None),
        ({"tracking": None}, {"tracking": ["This field may not be null."]}),
        ({"include_unsubscribe_link": "false"}, {"include_unsubscribe_link": [NOT_A_BOOLEAN]}),
        ({"include_unsubscribe_link": None}, None),
        ({"max_bounce_rate": -0.01}, None),
        ({"max_bounce_rate": 1.01}, None),
        ({"max_bounce_rate": "0.1"}, {"max_bounce_rate": ["Must be a number."]}),
        ({"max_bounce_rate": True}, {"max_bounce_rate": ["Must be a number."]}),
        ({"paused_reason": "user"}, {"paused_reason": ["This field is read-only."]}),
        ({"paused_reason": None}, {"paused_reason": ["This field is read-only."]}),
    ],
)
def test_bad_sending_fields_are_400_and_change_nothing(client_all, workspace, body, errors):
    campaign = make_campaign(workspace)
    before = (stored(campaign), sending_fields(campaign))

    response = client_all.patch(campaign_url(campaign), body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()) == list(body)
    if errors is not None:
        assert response.json() == errors
    assert (stored(campaign), sending_fields(campaign)) == before


@pytest.mark.parametrize("rate", [0, 0.0, 1, 0.5])
def test_max_bounce_rate_takes_zero_to_one(client_all, workspace, rate):
    campaign = make_campaign(workspace)

    response = client_all.patch(campaign_url(campaign), {"max_bounce_rate": rate}, format="json")

    assert response.status_code == 200
    assert response.json()["max_bounce_rate"] == rate
    assert sending_fields(campaign)["max_bounce_rate"] == rate


@pytest.mark.parametrize("end", ["09:00", "08:59"])
def test_the_window_must_start_before_it_ends(client_all, end):
    schedule = {"timezone": "UTC", "days": [1], "start_time": "09:00", "end_time": end}

    response = client_all.post(campaign_url(), campaign_body(schedule=schedule), format="json")

    assert response.status_code == 400
    assert response.json() == {"schedule": {"end_time": ["Must be later than start_time."]}}
    assert not Campaign.objects.exists()


def test_step_one_needs_a_subject_later_steps_may_have_none(client_all):
    steps = [{"subject": "", "body": "Hi", "delay_days": 0}]
    refused = client_all.post(campaign_url(), campaign_body(steps=steps), format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["steps"]
    assert "subject" in str(refused.json()["steps"])
    assert not Campaign.objects.exists()

    steps = [
        {"subject": "Hello", "body": "Hi", "delay_days": 0},
        {"subject": "", "body": "Following up", "delay_days": 2},
    ]
    created = client_all.post(campaign_url(), campaign_body(steps=steps), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["steps"] == steps


# Steps and sender accounts change only while DRAFT or PAUSED


def sequence_changes(workspace) -> dict[str, object]:
    return {
        "steps": [{"subject": "New", "body": "Other body", "delay_days": 1}],
        "sender_account_ids": [str(make_sender(workspace).pk)],
    }


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("field", ["steps", "sender_account_ids"])
@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED"])
def test_steps_and_sender_accounts_are_409_while_active_or_completed(
    client_all, workspace, method, field, status
):
    campaign = make_campaign(workspace, status=status, steps=2)
    body = {"name": "Renamed", field: sequence_changes(workspace)[field]}
    if method == "put":  # everything else as it is, so only `field` differs
        current = client_all.get(campaign_url(campaign)).json()
        body = {
            k: current[k]
            for k in ("sender_account_ids", "daily_limit", "schedule", "steps", "stop_on_reply")
        } | body
    before = (stored(campaign), sending_fields(campaign))

    response = getattr(client_all, method)(campaign_url(campaign), body, format="json")

    assert response.status_code == 409, response.content
    assert response.json() == {
        "detail": f"Cannot change {field} of a campaign in status {status}; pause it first.",
        "code": "invalid_state",
        "status": status,
        "allowed": ["DRAFT", "PAUSED"],
    }
    assert (stored(campaign), sending_fields(campaign)) == before  # the name did not change


def test_the_409_names_both_fields_when_both_change(client_all, workspace):
    campaign = make_campaign(workspace, status="ACTIVE")

    response = client_all.patch(campaign_url(campaign), sequence_changes(workspace), format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Cannot change steps and sender_account_ids of a campaign in status ACTIVE; pause it first."
    )


@pytest.mark.parametrize("status", ["DRAFT", "PAUSED"])
def test_steps_and_sender_accounts_change_while_draft_or_paused(client_all, workspace, status):
    campaign = make_campaign(workspace, status=status)
    changes = sequence_changes(workspace)

    response = client_all.patch(campaign_url(campaign), changes, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in changes} == changes
    after = stored(campaign)
    assert after["sender_account_ids"] == changes["sender_account_ids"]
    assert [s["subject"] for s in after["steps"]] == ["New"]


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED"])
def test_the_same_steps_and_accounts_sent_back_are_no_change(client_all, workspace, status):
    campaign = make_campaign(workspace, status=status, senders=2, steps=2)
    current = client_all.get(campaign_url(campaign)).json()
    body = {
        k: current[k]
        for k in ("sender_account_ids", "daily_limit", "schedule", "steps", "stop_on_reply")
    }
    body["sender_account_ids"].reverse()  # a set: the order carries no meaning

    response = client_all.put(campaign_url(campaign), {**body, "name": "Renamed"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    assert response.json()["status"] == status


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED"])
def test_other_fields_stay_editable_while_active_or_completed(client_all, workspace, status):
    campaign = make_campaign(workspace, status=status)
    changes = {
        "name": "Renamed",
        "daily_limit": 7,
        "stop_on_reply": False,
        "include_unsubscribe_link": False,
        "tracking": {"opens": True, "clicks": False},
        "max_bounce_rate": 0.5,
        "schedule": {"timezone": "UTC", "days": [1, 2], "start_time": "08:00", "end_time": "10:00"},
    }

    response = client_all.patch(campaign_url(campaign), changes, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in changes} == changes
    assert response.json()["status"] == status


# paused_reason and the leads' next_send_at through pause and activate


def lead_view(client, lead) -> dict:
    body = client.get(f"/api/public/v1/leads/{lead.pk}").json()
    return {k: body[k] for k in ("status", "current_step", "next_send_at")}


def test_pause_sets_paused_reason_user_and_unschedules_activate_clears_it(
    client_all, workspace, clock
):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign)
    assert lead_view(client_all, lead) == {
        "status": "PENDING",
        "current_step": 0,
        "next_send_at": None,  # not ACTIVE: nothing is due
    }

    activated = client_all.post(campaign_url(campaign, "activate"))
    assert activated.status_code == 200
    assert (activated.json()["status"], activated.json()["paused_reason"]) == ("ACTIVE", None)
    # The default window (Mon-Fri 09:00-17:00 UTC) is open on a Wednesday at noon.
    assert lead_view(client_all, lead)["next_send_at"] == "2026-03-04T12:00:00Z"

    paused = client_all.post(campaign_url(campaign, "pause"))
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["paused_reason"]) == ("PAUSED", "user")
    assert client_all.get(campaign_url(campaign)).json()["paused_reason"] == "user"
    assert lead_view(client_all, lead)["next_send_at"] is None

    again = client_all.post(campaign_url(campaign, "pause"))
    assert (again.status_code, again.json()["paused_reason"]) == (200, "user")

    reactivated = client_all.post(campaign_url(campaign, "activate"))
    assert (reactivated.json()["status"], reactivated.json()["paused_reason"]) == ("ACTIVE", None)
    assert lead_view(client_all, lead)["next_send_at"] == "2026-03-04T12:00:00Z"


def test_a_new_window_moves_the_next_sends_of_an_active_campaign(client_all, workspace, clock):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign)
    client_all.post(campaign_url(campaign, "activate"))
    assert lead_view(client_all, lead)["next_send_at"] == "2026-03-04T12:00:00Z"

    thursdays = {"timezone": "UTC", "days": [4], "start_time": "09:00", "end_time": "17:00"}
    response = client_all.patch(campaign_url(campaign), {"schedule": thursdays}, format="json")

    assert response.status_code == 200
    thursday_nine = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert thursday_nine > WEDNESDAY_NOON
    assert lead_view(client_all, lead)["next_send_at"] == "2026-03-05T09:00:00Z"


@pytest.mark.parametrize(("max_bounce_rate", "paused"), [(0.05, True), (0.5, False)])
def test_max_bounce_rate_set_through_the_api_decides_bounce_protection(
    client_all, sink, clock, delivery_settings, max_bounce_rate, paused
):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account], max_bounce_rate=max_bounce_rate)
    emails = [f"lead{i:02}@example.com" for i in range(40)]
    # 4 bounces (never 5 in a row): at least 4 in 20 attempted, whatever the order of sends,
    # over 0.05 and at most 4 in 20, under 0.5.
    sink.reject.update(emails[:4])
    add_leads(client_all, campaign_id, [{"email": e} for e in emails])
    activate(client_all, campaign_id)
    run_engine()

    body = client_all.get(campaign_url(campaign_id)).json()
    if paused:
        assert (body["status"], body["paused_reason"]) == ("PAUSED", "bounce_rate")
        assert body["stats"]["leads_by_status"]["PENDING"] > 0  # stopped before the end
        resumed = client_all.post(campaign_url(campaign_id, "activate")).json()
        assert resumed["paused_reason"] is None
    else:
        assert (body["status"], body["paused_reason"]) == ("COMPLETED", None)


def test_a_higher_daily_limit_brings_the_waiting_leads_back_at_once(
    client_all, sink, clock, delivery_settings
):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], daily_limit=1)
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}, {"email": "bob@example.com"}])
    activate(client_all, campaign_id)
    run_engine()
    assert len(sink.received) == 1
    waiting = [
        lead
        for lead in client_all.get(f"/api/public/v1/leads?campaign_id={campaign_id}").json()[
            "results"
        ]
        if lead["current_step"] == 0
    ]
    assert [lead["next_send_at"] for lead in waiting] == ["2026-03-05T12:00:00Z"]  # +24 h

    response = client_all.patch(campaign_url(campaign_id), {"daily_limit": 2}, format="json")

    assert response.status_code == 200
    assert lead_view(client_all, Lead(pk=waiting[0]["id"]))["next_send_at"] == (
        "2026-03-04T12:00:00Z"
    )
    run_engine()
    assert len(sink.received) == 2
