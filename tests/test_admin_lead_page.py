"""The lead page in the admin (API.md §9): its conversation (the messages sent or attempted, in
order, with step, status, subject, error and when) and its events, in tables of fixed layout
that wrap long Message-IDs and errors instead of widening the page."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client

from coldsend.core.clock import now
from delivery.models import Message
from engagement.models import EmailEvent
from leads import admin as lead_admin
from tests.delivery_support import (
    activate,
    add_lead,
    create_account,
    create_campaign,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "Hello {{first_name}}", "body": "First https://example.org/x", "delay_days": 0},
    {"subject": "Second note", "body": "Second", "delay_days": 1},
]


def section(html: str, title: str) -> str:
    """The fieldset titled `title`."""
    return re.search(rf"<fieldset[^>]*>\s*<h2[^>]*>{title}</h2>.*?</fieldset>", html, re.S).group(0)


def rows(table: str) -> list[list[str]]:
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in
         re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]  # fmt: skip


def test_the_lead_page_shows_its_messages_and_events_in_order(
    superuser_client: Client, client_all, sink, clock
):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id], STEPS)
    lead_id = add_lead(client_all, campaign_id, "ann@example.com", first_name="Ann")
    activate(client_all, campaign_id)
    run_engine()
    clock.shift(timedelta(days=1, hours=1))
    sink.reject.add("ann@example.com")  # step 2 bounces
    run_engine()
    messages = list(Message.objects.filter(lead_id=lead_id).order_by("step"))
    assert [m.status for m in messages] == ["SENT", "BOUNCED"]

    html = superuser_client.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()

    conversation = section(html, "Conversation")
    assert 'class="cs-table cs-conversation"' in conversation
    shown = rows(conversation)
    assert [row[:3] for row in shown] == [
        ["1", "SENT", "Hello Ann"],
        ["2", "BOUNCED", "Second note"],
    ]
    assert shown[0][3] == "2026-03-04 12:00:00"
    assert messages[0].message_id in unescape(shown[0][4])
    assert shown[1][3].startswith("not sent; tried 2026-03-05 13:00:00")
    assert "550" in shown[1][4]

    events = rows(section(html, "Events"))
    assert events == [
        ["SENT", "2026-03-04 12:00:00", "1"],
        ["BOUNCED", "2026-03-05 13:00:00", "2"],
    ]
    assert 'name="messages-' not in html  # nothing editable, no formset


def test_a_lead_without_messages_says_so(superuser_client, client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, "bob@example.com")
    html = superuser_client.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()
    assert "Nothing sent or attempted yet." in html
    assert "No events yet." in html


def test_the_add_page_has_no_conversation(superuser_client):
    html = superuser_client.get("/admin/leads/lead/add/").content.decode()
    assert "Conversation" not in html
    assert "cs-events" not in html


def test_events_show_the_latest_when_there_are_very_many(superuser_client, client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, "ann@example.com")
    EmailEvent.objects.bulk_create(
        EmailEvent(
            campaign_id=campaign_id,
            lead_id=lead_id,
            type="OPENED",
            occurred_at=now() + timedelta(minutes=i),
        )
        for i in range(lead_admin.EVENTS_SHOWN + 3)
    )
    html = superuser_client.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()
    events = rows(section(html, "Events"))
    assert len(events) == lead_admin.EVENTS_SHOWN
    assert (
        events[-1][1]
        == f"{now() + timedelta(minutes=lead_admin.EVENTS_SHOWN + 2):%Y-%m-%d %H:%M:%S}"
    )
    assert "Earlier events are not shown." in html


def test_the_admin_stylesheet_is_served_by_the_app_and_wraps_long_values(superuser_client):
    html = superuser_client.get("/admin/").content.decode()
    [href] = re.findall(r'<link rel="stylesheet" href="(/static/coldsend/admin\.css)">', html)
    css = b"".join(superuser_client.get(href).streaming_content).decode()
    assert "table-layout: fixed" in css
    assert "overflow-wrap: anywhere" in css
    assert "url(" not in css
