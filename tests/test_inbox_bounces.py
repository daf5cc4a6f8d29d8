"""Bounces read from a real IMAP inbox (API.md §7, §8): a delivery status notification for one
of our messages with a 5.x.x status is a hard bounce (lead BOUNCED, address suppressed in the
workspace, counted towards bounce protection), Auto-Submitted or not; 4.x.x changes nothing;
non-standard bounces that flufl.bounce recognises count too."""

import pytest

from campaigns.models import Campaign
from delivery.models import Message
from tests.delivery_support import add_lead, run_engine
from tests.imap_support import create_inbox_account, mail, sent_id
from tests.tracking_support import lead_of, send_campaign, stats_of

STEPS = [
    {"subject": "Hello", "body": "Hi {{first_name}}!", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 2},
]
LEAD = "ann@example.com"
SENDER = "alice@sender.example"


@pytest.fixture
def inbox_settings(delivery_settings, dovecot):
    delivery_settings.INBOX_POLL_SECONDS = 0
    return delivery_settings


pytestmark = pytest.mark.usefixtures("inbox_settings")


@pytest.mark.parametrize(
    "fixture", ["dsn_gmail_550", "dsn_outlook_550", "dsn_postfix_550", "qmail_bounce"]
)
def test_a_hard_bounce_report_bounces_the_lead_and_suppresses_the_address(
    client_all, sink, dovecot, clock, fixture
):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, steps=STEPS, account_id=account_id)
    dovecot.deliver(user, mail(fixture, message_id=sent_id(sink, LEAD), lead=LEAD, sender=SENDER))

    run_engine()

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "BOUNCED"
    stats = stats_of(client_all, campaign_id)
    assert (stats["bounced"], stats["bounce_rate"]) == (1, 1.0)
    message = Message.objects.get(campaign_id=campaign_id, step=1)
    assert message.status == "BOUNCED"
    # Suppressed in the workspace: a later campaign never contacts the address.
    second = send_campaign(client_all, sink, emails=(), account_id=account_id, name="Second")
    add_lead(client_all, second, LEAD)
    run_engine()
    assert lead_of(client_all, second, LEAD)["status"] == "BOUNCED"
    assert len(sink.to(LEAD)) == 1


def test_a_delay_report_changes_nothing(client_all, sink, dovecot, clock):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, steps=STEPS, account_id=account_id)
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": SENDER}
    dovecot.deliver(user, mail("dsn_postfix_delayed", **values))

    run_engine()

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"
    assert stats_of(client_all, campaign_id)["bounced"] == 0
    assert Message.objects.get(campaign_id=campaign_id, step=1).status == "SENT"


def test_a_second_report_for_the_same_message_counts_once(client_all, sink, dovecot, clock):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, steps=STEPS, account_id=account_id)
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": SENDER}
    dovecot.deliver(user, mail("dsn_postfix_550", **values), mail("dsn_gmail_550", **values))

    run_engine()

    assert stats_of(client_all, campaign_id)["bounced"] == 1


def test_a_report_for_another_workspaces_message_counts_nowhere(
    client_all, make_client, other_workspace, sink, dovecot, clock
):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(
        client_all, sink, emails=("bob@example.com",), account_id=account_id
    )
    other_client = make_client(["*"], other_workspace)
    elsewhere = send_campaign(other_client, sink, emails=(LEAD,), name="Globex")
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": SENDER}
    dovecot.deliver(user, mail("dsn_outlook_550", **values))

    run_engine()

    assert lead_of(other_client, elsewhere, LEAD)["status"] == "COMPLETED"
    assert stats_of(other_client, elsewhere)["bounced"] == 0
    assert stats_of(client_all, campaign_id)["bounced"] == 0


def test_bounce_reports_trigger_bounce_protection(client_all, sink, dovecot, clock):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    leads = tuple(f"lead{i:02}@example.com" for i in range(20))
    campaign_id = send_campaign(client_all, sink, emails=leads, steps=STEPS, account_id=account_id)
    assert len(sink.received) == 20
    reports = [  # two reports, each with its own Message-ID
        mail("dsn_postfix_550", message_id=sent_id(sink, lead), lead=lead, sender=SENDER).replace(
            b"<20260304120001.4ZkQ3B1cDzz@", f"<20260304120001.{lead}@".encode()
        )
        for lead in leads[:2]
    ]
    dovecot.deliver(user, *reports)

    run_engine()

    campaign = Campaign.objects.get(pk=campaign_id)
    assert (campaign.status, campaign.paused_reason) == ("PAUSED", "bounce_rate")  # 2/20 > 5%
    stats = stats_of(client_all, campaign_id)
    assert (stats["bounced"], stats["bounce_rate"]) == (2, 0.1)


def test_a_reported_bounce_counts_its_message_once_in_the_attempts(
    client_all, sink, dovecot, clock
):
    # 2 bounced of 20 attempted is 10%: over 9.75%. Counting the two reported messages as both
    # sent and bounced would make it 2 of 22 (9.1%) and keep the campaign going.
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    leads = tuple(f"lead{i:02}@example.com" for i in range(20))
    campaign_id = send_campaign(client_all, sink, emails=leads, steps=STEPS, account_id=account_id)
    # max_bounce_rate is not writable through the API on this branch yet.
    Campaign.objects.filter(pk=campaign_id).update(max_bounce_rate=0.0975)
    dovecot.deliver(
        user,
        *(
            mail(
                "dsn_postfix_550", message_id=sent_id(sink, lead), lead=lead, sender=SENDER
            ).replace(b"<20260304120001.4ZkQ3B1cDzz@", f"<20260304120001.{lead}@".encode())
            for lead in leads[:2]
        ),
    )

    run_engine()

    campaign = Campaign.objects.get(pk=campaign_id)
    assert (campaign.status, campaign.paused_reason) == ("PAUSED", "bounce_rate")
