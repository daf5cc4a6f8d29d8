"""A lead whose address is suppressed in the workspace takes that status (BOUNCED or
UNSUBSCRIBED) when it is added (POST leads) or imported (POST leads/import), and is never
contacted (API.md §7 "Failures"). Adding leads to a COMPLETED campaign makes it ACTIVE again,
and new leads of an ACTIVE campaign are scheduled at once."""

import pytest

from delivery.actions import do_suppress as suppress
from engagement.models import Suppression
from tests.delivery_support import (
    activate,
    add_lead,
    campaign,
    create_account,
    create_campaign,
    leads_of,
    pause,
    run_engine,
)
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")


def lead(client, lead_id: str) -> dict:
    response = client.get(api_url(f"leads/{lead_id}"))
    assert response.status_code == 200
    return response.json()


def import_leads(client, campaign_id: str, emails: list[str]) -> dict:
    response = client.post(
        api_url("leads/import"),
        {"campaign_id": campaign_id, "leads": [{"email": e} for e in emails]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def bounce(client, sink, address: str) -> str:
    """Suppress `address` the real way: a campaign sends to it and the server answers 550."""
    sink.reject.add(address)
    campaign_id = create_campaign(client, [create_account(client, sink)], name="First")
    add_lead(client, campaign_id, address)
    activate(client, campaign_id)
    run_engine()
    assert Suppression.objects.filter(email=address, reason="BOUNCED").exists()
    sink.reject.discard(address)
    return campaign_id


def test_an_address_that_bounced_is_bounced_when_added_to_another_campaign(client_all, sink, clock):
    bounce(client_all, sink, "gone@example.com")
    account = create_account(client_all, sink, email="bob@sender.example")
    campaign_id = create_campaign(client_all, [account], name="Second")

    response = client_all.post(
        api_url("leads"), {"campaign_id": campaign_id, "email": "Gone@Example.com"}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["next_send_at"]) == ("BOUNCED", None)
    add_lead(client_all, campaign_id, "fine@example.com")
    activate(client_all, campaign_id)
    run_engine()
    assert [r.rcpt_tos for r in sink.received if r.rcpt_tos != ["gone@example.com"]] == [
        ["fine@example.com"]
    ]
    assert sink.to("gone@example.com") == []  # the server would accept it now: never tried
    assert lead(client_all, response.json()["id"])["status"] == "BOUNCED"
    assert campaign(client_all, campaign_id)["stats"]["leads_by_status"]["BOUNCED"] == 1


def test_an_unsubscribed_address_is_unsubscribed_when_imported(client_all, sink, clock, workspace):
    suppress(workspace, "left@example.com", Suppression.Reason.UNSUBSCRIBED)
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    activate(client_all, campaign_id)

    report = import_leads(
        client_all, campaign_id, ["ann@example.com", "LEFT@example.com", "bob@example.com"]
    )

    # Such rows are created (not invalid) and counted as suppressed.
    assert report == {"created": 3, "suppressed": 1, "duplicates": 0, "invalid": 0, "errors": []}
    leads = leads_of(client_all, campaign_id)
    assert leads["left@example.com"]["status"] == "UNSUBSCRIBED"
    assert leads["left@example.com"]["next_send_at"] is None
    assert leads["ann@example.com"]["next_send_at"] is not None
    run_engine()
    assert sorted(r.rcpt_tos[0] for r in sink.received) == ["ann@example.com", "bob@example.com"]
    assert leads_of(client_all, campaign_id)["left@example.com"]["status"] == "UNSUBSCRIBED"


def test_another_workspaces_suppression_does_not_count(
    client_all, sink, clock, workspace, other_workspace
):
    suppress(other_workspace, "ann@example.com", Suppression.Reason.UNSUBSCRIBED)
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    lead_id = add_lead(client_all, campaign_id, "ann@example.com")
    assert lead(client_all, lead_id)["status"] == "PENDING"
    activate(client_all, campaign_id)
    run_engine()
    assert [r.rcpt_tos for r in sink.received] == [["ann@example.com"]]


@pytest.mark.parametrize("how", ["create", "import"])
def test_leads_added_to_a_completed_campaign_make_it_active_again(client_all, sink, clock, how):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "first@example.com")
    activate(client_all, campaign_id)
    run_engine()
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"

    if how == "create":
        add_lead(client_all, campaign_id, "second@example.com")
    else:
        import_leads(client_all, campaign_id, ["second@example.com", "third@example.com"])

    assert campaign(client_all, campaign_id)["status"] == "ACTIVE"
    assert all(
        lead["next_send_at"] is not None
        for email, lead in leads_of(client_all, campaign_id).items()
        if email != "first@example.com"
    )
    run_engine()
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
    assert len(sink.received) == (2 if how == "create" else 3)


@pytest.mark.parametrize("how", ["create", "import"])
def test_only_suppressed_leads_leave_a_completed_campaign_completed(
    client_all, sink, clock, workspace, how
):
    suppress(workspace, "left@example.com", Suppression.Reason.UNSUBSCRIBED)
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "first@example.com")
    activate(client_all, campaign_id)
    run_engine()

    if how == "create":
        add_lead(client_all, campaign_id, "left@example.com")
    else:
        import_leads(client_all, campaign_id, ["left@example.com"])

    # Nothing is left to send: the campaign stays COMPLETED.
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
    assert leads_of(client_all, campaign_id)["left@example.com"]["status"] == "UNSUBSCRIBED"


@pytest.mark.parametrize("state", ["DRAFT", "PAUSED"])
def test_leads_of_a_campaign_that_is_not_active_are_not_scheduled(client_all, sink, clock, state):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    if state == "PAUSED":
        activate(client_all, campaign_id)
        pause(client_all, campaign_id)

    lead_id = add_lead(client_all, campaign_id, "ann@example.com")
    import_leads(client_all, campaign_id, ["bob@example.com"])

    assert lead(client_all, lead_id)["next_send_at"] is None
    assert leads_of(client_all, campaign_id)["bob@example.com"]["next_send_at"] is None
    run_engine()
    assert sink.received == []


def test_new_leads_of_an_active_campaign_are_scheduled_at_once(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    activate(client_all, campaign_id)

    created = client_all.post(
        api_url("leads"), {"campaign_id": campaign_id, "email": "ann@example.com"}, format="json"
    ).json()

    # The window (every day, 00:00-23:59 UTC) is open now: due at once.
    assert created["next_send_at"] == "2026-03-04T12:00:00Z"
    assert created["current_step"] == 0
    run_engine()
    assert lead(client_all, created["id"])["current_step"] == 1
