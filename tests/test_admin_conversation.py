"""The lead page in the admin shows the lead's whole conversation (API.md §9 and §11): the steps,
the answers written with `POST leads/{id}/reply` and what came in (replies, automatic answers,
bounce reports), oldest first, in the fixed-layout table that wraps long values (readable at
1280 px), statuses as the API shows them; the texts are escaped."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client

from coldsend.core.clock import now
from delivery.models import Answer, InboundMessage
from tests.delivery_support import activate, add_lead, create_account, create_campaign, run_engine
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [{"subject": "Quick question", "body": "Hi", "delay_days": 0}]
LEAD = "ann@example.com"


def conversation_rows(html: str) -> list[list[str]]:
    fieldset = re.search(
        r"<fieldset[^>]*>\s*<h2[^>]*>Conversation</h2>.*?</fieldset>", html, re.S
    ).group(0)
    assert 'class="cs-table cs-conversation"' in fieldset
    assert "<colgroup>" in fieldset  # fixed column widths: long values wrap, the page stays 1280
    body = fieldset.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in
         re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]  # fmt: skip


def test_the_lead_page_shows_steps_replies_and_answers_in_order(
    superuser_client: Client, client_all, sink, clock
):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    run_engine()
    clock.shift(timedelta(hours=1))
    InboundMessage.objects.create(
        lead_id=lead_id,
        kind=InboundMessage.Kind.REPLY,
        from_address=LEAD,
        subject="Re: Quick question",
        text="Sounds <good>.\nWhen?",
        message_id="<r1@example.com>",
        received_at=now() - timedelta(minutes=10),
    )
    sent = client_all.post(api_url(f"leads/{lead_id}/reply"), {"body": "Tuesday?"}, format="json")
    assert sent.status_code == 202
    run_engine()
    clock.shift(timedelta(minutes=5))
    queued = client_all.post(api_url(f"leads/{lead_id}/reply"), {"body": "Or Wed."}, format="json")
    assert queued.status_code == 202

    html = superuser_client.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()

    rows = conversation_rows(html)
    assert [row[:4] for row in rows] == [
        ["1", "SENT", "Quick question", "2026-03-04 12:00:00"],
        ["← Reply", "received", "Re: Quick question", "2026-03-04 12:50:00"],
        ["→ Answer", "SENT", "Re: Quick question", "2026-03-04 13:00:00"],
        ["→ Answer", "QUEUED", "Re: Quick question", "not sent; queued 2026-03-04 13:05:00"],
    ]
    assert rows[1][4] == "from ann@example.com Sounds <good>. When? <r1@example.com>"
    assert "Sounds &lt;good&gt;." in html  # escaped, never markup
    assert "Tuesday?" in rows[2][4]
    assert sent.json()["message_id"] in rows[2][4]
    assert rows[2][4].startswith("from alice@sender.example")
    assert "Or Wed." in rows[3][4]
    assert Answer.objects.count() == 2


def test_a_bounce_report_and_an_auto_reply_are_named(
    superuser_client: Client, client_all, sink, clock
):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], STEPS)
    lead_id = add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    run_engine()
    for minutes, kind in ((1, InboundMessage.Kind.AUTO_REPLY), (2, InboundMessage.Kind.BOUNCE)):
        InboundMessage.objects.create(
            lead_id=lead_id,
            kind=kind,
            from_address="mailer-daemon@example.com",
            subject="Note",
            received_at=now() + timedelta(minutes=minutes),
        )

    html = superuser_client.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()

    assert [row[0] for row in conversation_rows(html)] == ["1", "← Auto-reply", "← Bounce report"]
