"""What comes back to a sender account's inbox, judged right (API.md §8), read from a real IMAP
server (Dovecot): which recipient a bounce report names (Original-Recipient first), its verdict
(hard bounce, failed, or nothing), which reports count at all (only for a message of ours: a
forged one suppresses nothing), and automatic answers that are not replies."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from campaigns.models import Campaign
from delivery.models import Message
from tests.delivery_support import activate, add_lead, add_leads, create_campaign, run_engine
from tests.imap_support import DATE, create_inbox_account, mail, sent_id
from tests.tracking_support import events_of, lead_of, send_campaign, stats_of
from tests.urls import api_url

LEAD = "ann@example.com"
SENDER = "alice@sender.example"
STEPS = [
    {"subject": "Hello", "body": "Hi {{first_name}}!", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 2},
]
AUTOMATIC = Path(__file__).parent / "fixtures" / "automatic"


@pytest.fixture
def inbox_settings(delivery_settings, dovecot):
    delivery_settings.INBOX_POLL_SECONDS = 0
    return delivery_settings


pytestmark = pytest.mark.usefixtures("inbox_settings")


def report(
    *,
    message_id: str | None,
    final: str,
    original: str | None = None,
    action: str = "failed",
    status: str = "5.1.1",
    sender: str = "MAILER-DAEMON@mx.example.net",
) -> bytes:
    """An RFC 3464 report; the returned headers name `message_id` when given."""
    recipient = f"Final-Recipient: rfc822; {final}\r\n"
    if original:
        recipient = f"Original-Recipient: rfc822;{original}\r\n" + recipient
    returned = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"From: {sender}\r\nTo: {SENDER}\r\nDate: {DATE}\r\n"
        f"Message-ID: <report-{abs(hash((message_id, final, action, status)))}@mx.example.net>\r\n"
        "Subject: Delivery Status Notification\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"{recipient}Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox problem\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {SENDER}\r\n{returned}\r\n"
        "--b--\r\n"
    ).encode()


def probe(client, account_id: str, address: str) -> str:
    """BOUNCED when `address` is suppressed in the workspace, else PENDING."""
    other = create_campaign(client, [account_id], name="Probe")
    lead_id = add_lead(client, other, address)
    return client.get(api_url(f"leads/{lead_id}")).json()["status"]


def sent(client, sink, dovecot) -> tuple[str, str, str]:
    account_id, user = create_inbox_account(client, sink, dovecot)
    campaign_id = send_campaign(client, sink, steps=STEPS, account_id=account_id)
    return account_id, user, campaign_id


def test_the_original_recipient_is_the_failed_address(client_all, sink, dovecot, clock):
    account_id, user, campaign_id = sent(client_all, sink, dovecot)
    ours = sent_id(sink, LEAD)
    dovecot.deliver(user, report(message_id=ours, original=LEAD, final="ann@relay.example.org"))
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "BOUNCED"
    assert probe(client_all, account_id, LEAD) == "BOUNCED"


def test_a_forwarding_mailbox_that_bounces_bounces_nothing_of_ours(
    client_all, sink, dovecot, clock
):
    account_id, user, campaign_id = sent(client_all, sink, dovecot)
    dovecot.deliver(user, report(message_id=sent_id(sink, LEAD), final="ann.old@isp.example"))
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"
    assert probe(client_all, account_id, LEAD) == "PENDING"
    assert probe(client_all, account_id, "ann.old@isp.example") == "PENDING"


def test_a_report_naming_only_an_address_suppresses_nothing(client_all, sink, dovecot, clock):
    """The issue's forged bounce: a report from anyone naming only the lead's address."""
    account_id, user, campaign_id = sent(client_all, sink, dovecot)
    dovecot.deliver(user, report(message_id=None, final=LEAD, sender="prankster@evil.example"))
    run_engine()
    # It applies to the lead this account sent to most recently, and suppresses nothing.
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "BOUNCED"
    assert stats_of(client_all, campaign_id)["bounced"] == 1
    assert probe(client_all, account_id, LEAD) == "PENDING"


def test_a_report_naming_only_an_old_send_changes_nothing(client_all, sink, dovecot, clock):
    _, user, campaign_id = sent(client_all, sink, dovecot)
    clock.shift(timedelta(days=15))
    Campaign.objects.filter(pk=campaign_id).update(status="PAUSED")  # no follow-up meanwhile
    dovecot.deliver(user, report(message_id=None, final=LEAD))
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"


def test_a_report_naming_another_workspaces_message_counts_nowhere(
    client_all, make_client, other_workspace, sink, dovecot, clock
):
    other = make_client(["*"], ws=other_workspace)
    _, _, other_campaign = sent(other, sink, dovecot)
    theirs = sent_id(sink, LEAD)
    _, user, campaign_id = sent(client_all, sink, dovecot)
    dovecot.deliver(user, report(message_id=theirs, final=LEAD))
    run_engine()
    assert lead_of(other, other_campaign, LEAD)["status"] == "CONTACTED"
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"


@pytest.mark.parametrize(
    ("action", "status"),
    [("failed", "4.4.7"), ("failed", "5.7.1"), ("failed", "5.2.2"), ("failed", "5.4.4")],
)
def test_a_failure_that_is_no_hard_bounce_fails_the_lead(
    client_all, sink, dovecot, clock, action, status
):
    account_id, user, campaign_id = sent(client_all, sink, dovecot)
    dovecot.deliver(
        user, report(message_id=sent_id(sink, LEAD), final=LEAD, action=action, status=status)
    )
    run_engine()
    lead = lead_of(client_all, campaign_id, LEAD)
    assert (lead["status"], lead["next_send_at"]) == ("FAILED", None)
    message = Message.objects.get(campaign_id=campaign_id, step=1)
    assert message.status == "FAILED"
    assert message.error.startswith(f"failed: {status} ")
    assert stats_of(client_all, campaign_id)["bounced"] == 0
    assert probe(client_all, account_id, LEAD) == "PENDING"


@pytest.mark.parametrize(
    ("action", "status"), [("delayed", "4.4.1"), ("relayed", "2.0.0"), ("delivered", "2.0.0")]
)
def test_delays_relays_and_deliveries_change_nothing(
    client_all, sink, dovecot, clock, action, status
):
    _, user, campaign_id = sent(client_all, sink, dovecot)
    dovecot.deliver(
        user, report(message_id=sent_id(sink, LEAD), final=LEAD, action=action, status=status)
    )
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"
    assert events_of(campaign_id, "AUTO_REPLIED") == 0  # not an automatic answer either


def test_reported_bounces_count_in_the_rate_not_in_a_row(client_all, sink, dovecot, clock):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = create_campaign(client_all, [account_id])
    live = [f"l{i}@example.com" for i in range(5)]
    add_leads(client_all, campaign_id, [{"email": e} for e in live])
    activate(client_all, campaign_id)
    run_engine()
    for address in live:
        dovecot.deliver(user, report(message_id=sent_id(sink, address), final=address))
    run_engine()
    body = client_all.get(api_url(f"campaigns/{campaign_id}")).json()
    assert body["stats"]["bounced"] == 5
    assert body["stats"]["bounce_rate"] == 1.0
    assert body["paused_reason"] is None  # 5 bounces read later: not "in a row", under 20


def with_reply_to(raw: bytes, message_id: str) -> bytes:
    """A fixture answer made to answer `message_id`."""
    text = raw.decode("latin-1").replace("\r\n", "\n")
    text = re.sub(r"(?mi)^In-Reply-To:.*$", f"In-Reply-To: {message_id}", text, count=1)
    if not re.search(r"(?mi)^In-Reply-To:", text):
        text = f"In-Reply-To: {message_id}\n" + text
    return text.replace("\n", "\r\n").encode("latin-1")


def test_automatic_answers_are_not_replies(client_all, sink, dovecot, clock):
    """Every automatic answer of the fixture set (Exchange, Outlook, Gmail, Zimbra, ticket
    systems, challenge-response, in many languages) read from the inbox: AUTO_REPLIED, and the
    lead goes on; then a person's reply quoting an out-of-office is a reply."""
    _, user, campaign_id = sent(client_all, sink, dovecot)
    ours = sent_id(sink, LEAD)
    answers = sorted(AUTOMATIC.glob("auto_*.eml"))
    answers.remove(AUTOMATIC / "auto_outlook_client_rule_template.eml")  # ordinary mail
    dovecot.deliver(user, *(with_reply_to(path.read_bytes(), ours) for path in answers))
    run_engine()
    assert events_of(campaign_id, "AUTO_REPLIED") == len(answers)
    assert events_of(campaign_id, "REPLIED") == 0
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"

    human = AUTOMATIC / "human_quotes_out_of_office_in_body.eml"
    dovecot.deliver(user, with_reply_to(human.read_bytes(), ours))
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"


def test_a_bounce_report_is_a_bounce_though_it_is_automatic(client_all, sink, dovecot, clock):
    _, user, campaign_id = sent(client_all, sink, dovecot)
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": SENDER}
    dovecot.deliver(user, mail("dsn_postfix_550", **values))  # carries Auto-Submitted
    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "BOUNCED"
    assert events_of(campaign_id, "AUTO_REPLIED") == 0
