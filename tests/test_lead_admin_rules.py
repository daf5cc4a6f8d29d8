"""The lead admin keeps the API's rules: only a PENDING lead can be deleted (one at a time or
with the bulk action), and a lead's status is never edited by hand."""

import pytest

from audit.models import AuditEvent
from campaigns.models import Campaign
from leads.models import Lead

CHANGELIST = "/admin/leads/lead/"


def make_lead(campaign: Campaign, email: str, status: str = Lead.Status.PENDING) -> Lead:
    return Lead.objects.create(
        workspace_id=campaign.workspace_id, campaign=campaign, email=email, status=status
    )


@pytest.mark.parametrize("status", [s for s in Lead.Status.values if s != Lead.Status.PENDING])
def test_a_lead_past_pending_cannot_be_deleted(admin_client, campaign, status):
    lead = make_lead(campaign, "ann@example.com", status)
    url = f"{CHANGELIST}{lead.pk}/delete/"

    page = admin_client.get(url)
    assert page.status_code == 200
    assert f"is {status}: only PENDING leads can be deleted" in page.content.decode()

    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 200  # the "cannot delete" page again
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert not AuditEvent.objects.exists()


def test_a_pending_lead_is_deleted_through_the_service(admin_client, admin_user, campaign):
    lead = make_lead(campaign, "ann@example.com")
    response = admin_client.post(f"{CHANGELIST}{lead.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Lead.objects.filter(pk=lead.pk).exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor) == (AuditEvent.Action.LEAD_DELETED, admin_user.username)


def test_bulk_delete_refuses_while_one_lead_is_past_pending(admin_client, campaign):
    pending = make_lead(campaign, "ann@example.com")
    replied = make_lead(campaign, "bob@example.com", Lead.Status.REPLIED)
    selected = {"action": "delete_selected", "_selected_action": [pending.pk, replied.pk]}

    page = admin_client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert "only PENDING leads can be deleted" in page.content.decode()

    admin_client.post(CHANGELIST, {**selected, "post": "yes"})
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "ann@example.com",
        "bob@example.com",
    }


def test_bulk_delete_of_pending_leads(admin_client, campaign):
    leads = [make_lead(campaign, f"{n}@example.com") for n in ("ann", "bob")]
    selected = {"action": "delete_selected", "_selected_action": [lead.pk for lead in leads]}
    response = admin_client.post(CHANGELIST, {**selected, "post": "yes"})
    assert response.status_code == 302
    assert not Lead.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LEAD_DELETED).count() == 2


def lead_form(campaign: Campaign, **changes: str) -> dict[str, str]:
    return {
        "campaign": str(campaign.pk), "email": "ann@example.com", "first_name": "",
        "last_name": "", "company": "", "custom_fields": "{}",
        # the read-only inline of the lead's messages posts its management form
        "messages-TOTAL_FORMS": "0", "messages-INITIAL_FORMS": "0",
        "messages-MIN_NUM_FORMS": "0", "messages-MAX_NUM_FORMS": "1000", **changes,
    }  # fmt: skip


def test_status_is_read_only(admin_client, campaign):
    lead = make_lead(campaign, "ann@example.com", Lead.Status.CONTACTED)
    url = f"{CHANGELIST}{lead.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()

    response = admin_client.post(url, lead_form(campaign, first_name="Ann", status="PENDING"))
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.status) == ("Ann", Lead.Status.CONTACTED)


def test_a_lead_added_in_the_admin_starts_pending(admin_client, campaign):
    add = f"{CHANGELIST}add/"
    assert 'name="status"' not in admin_client.get(add).content.decode()
    response = admin_client.post(add, lead_form(campaign, status="REPLIED"))
    assert response.status_code == 302
    assert Lead.objects.get().status == Lead.Status.PENDING
