"""The admin shows what the engine did (issue 9 §7): a lead's page lists its messages, a
campaign's page shows its progress, sender accounts show ERROR and last_error."""

import html

import pytest
from django.test import Client

from delivery.models import Message
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    PASSWORD,
    activate,
    add_lead,
    add_leads,
    create_account,
    create_campaign,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "Hello {{first_name}}", "body": "First", "delay_days": 0},
    {"subject": "Second note", "body": "Second", "delay_days": 2},
]


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_leads_page_lists_its_messages_read_only(superuser_client, client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    ann = add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    bob = add_lead(client_all, campaign_id, "bob@example.com", first_name="Bob")
    sink.reject.add("bob@example.com")
    activate(client_all, campaign_id)
    run_engine()
    [sent] = Message.objects.filter(lead_id=ann)

    content = page(superuser_client, f"/admin/leads/lead/{ann}/change/")

    assert "Conversation" in content
    assert "Hello Ann" in content
    assert sent.message_id in content  # with its angle brackets
    assert "SENT" in content
    assert "Hello Bob" not in content  # another lead's message
    assert 'name="messages-0-subject"' not in content  # nothing editable
    assert "messages-__prefix__" not in content  # nothing to add
    bob_page = page(superuser_client, f"/admin/leads/lead/{bob}/change/")
    assert "BOUNCED" in bob_page
    assert "550" in bob_page


def test_a_campaigns_page_shows_its_progress(superuser_client, client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(3)])
    url = f"/admin/campaigns/campaign/{campaign_id}/change/"
    draft = page(superuser_client, url)
    assert "PENDING: 3" in draft
    assert "Scheduled: 0" in draft

    activate(client_all, campaign_id)
    active = page(superuser_client, url)
    assert "Scheduled: 3" in active
    assert "l0@example.com — step 1 at 2026-03-04 12:00:00 UTC" in active

    run_engine()
    after = page(superuser_client, url)
    assert "PENDING: 0" in after
    assert "CONTACTED: 3" in after
    assert "l1@example.com — step 2 at 2026-03-06 12:00:00 UTC" in after


def test_sender_accounts_show_error_and_last_error(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    sink.handler.refuse_auth = True
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    run_engine()
    account = SenderAccount.objects.get(pk=account_id)
    assert account.status == "ERROR"
    assert account.last_error

    listing = page(superuser_client, "/admin/sender_accounts/senderaccount/?status__exact=ERROR")
    detail = page(superuser_client, f"/admin/sender_accounts/senderaccount/{account_id}/change/")

    for content in (listing, detail):
        assert account.email in content
        assert account.last_error in content
        assert PASSWORD not in content
    assert "ERROR" in listing


def test_the_admin_sets_the_pacing_gap_and_refuses_min_over_max(superuser_client, workspace):
    account = SenderAccount.objects.create(workspace=workspace, type="NATIVE", email="n@x.io")
    url = f"/admin/sender_accounts/senderaccount/{account.pk}/change/"
    form = {
        "type": "NATIVE",
        "email": "n@x.io",
        "display_name": "",
        "daily_limit": "50",
        "status": "ACTIVE",
        "min_interval_seconds": "301",
        "max_interval_seconds": "300",
    }

    refused = superuser_client.post(url, form)
    assert refused.status_code == 200
    assert "Must be at least the minimum interval." in refused.content.decode()
    account.refresh_from_db()
    assert (account.min_interval_seconds, account.max_interval_seconds) == (180, 300)

    no_gap = {"min_interval_seconds": "0", "max_interval_seconds": "0"}
    saved = superuser_client.post(url, {**form, **no_gap})
    assert saved.status_code == 302
    account.refresh_from_db()
    assert (account.min_interval_seconds, account.max_interval_seconds) == (0, 0)
    assert Lead.objects.count() == 0


def test_a_lead_with_messages_can_still_be_edited(superuser_client, client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    activate(client_all, campaign_id)
    run_engine()
    lead = Lead.objects.get(pk=lead_id)
    url = f"/admin/leads/lead/{lead_id}/change/"
    # The messages are shown, not a formset: nothing of them is posted back.
    assert "messages-TOTAL_FORMS" not in page(superuser_client, url)

    response = superuser_client.post(
        url,
        {
            "campaign": str(lead.campaign_id),
            "email": lead.email,
            "first_name": "Annie",
            "last_name": "",
            "company": "",
            "custom_fields": "{}",
            "status": lead.status,
        },
    )

    assert response.status_code == 302, html.unescape(response.content.decode())[-3000:]
    lead.refresh_from_db()
    assert lead.first_name == "Annie"
    assert Message.objects.filter(lead=lead).count() == 1  # the record stays as it was
