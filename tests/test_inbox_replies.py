"""Replies and automatic answers read from a real IMAP inbox (API.md §8): a reply naming one of
our messages makes the lead REPLIED (and stops its sequence with stop_on_reply); an automatic
answer is AUTO_REPLIED only; mail naming nothing of ours, or a message of another workspace,
counts nowhere; the inbox is never changed, and an IMAP failure changes nothing but
`last_error`."""

from datetime import timedelta

import pytest

from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import REBINDING_HOST, rebind_dns, run_engine
from tests.imap_support import create_inbox_account, mail, sent_id
from tests.tracking_support import events_of, lead_of, send_campaign, stats_of

STEPS = [
    {"subject": "Hello", "body": "Hi {{first_name}}!", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 2},
]
LEAD = "ann@example.com"


@pytest.fixture
def inbox_settings(delivery_settings, dovecot):
    delivery_settings.INBOX_POLL_SECONDS = 0  # every engine round reads the inboxes
    return delivery_settings


pytestmark = pytest.mark.usefixtures("inbox_settings")


@pytest.fixture
def sent(client_all, sink, dovecot, clock):
    """A campaign whose step 1 went to ann@example.com from an account with an inbox."""
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, steps=STEPS, account_id=account_id)
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": "alice@sender.example"}
    return campaign_id, account_id, user, values


def next_send_at(campaign_id: str):
    # `next_send_at` is not in the lead's API answer on this branch yet.
    return Lead.objects.get(campaign_id=campaign_id, email=LEAD).next_send_at


def test_a_reply_makes_the_lead_replied_and_stops_its_sequence(
    client_all, sink, dovecot, clock, sent
):
    campaign_id, _, user, values = sent
    dovecot.deliver(user, mail("reply", **values))

    run_engine()

    lead = lead_of(client_all, campaign_id, LEAD)
    assert lead["status"] == "REPLIED"
    assert lead["engagement"]["replied_at"] is not None
    stats = stats_of(client_all, campaign_id)
    assert (stats["replied"], stats["reply_rate"]) == (1, 1.0)
    assert next_send_at(campaign_id) is None
    clock.shift(timedelta(days=3))
    run_engine()
    assert len(sink.to(LEAD)) == 1  # step 2 never goes


def test_without_stop_on_reply_the_lead_shows_replied_and_its_steps_go_on(
    client_all, sink, dovecot, clock
):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(
        client_all, sink, steps=STEPS, account_id=account_id, stop_on_reply=False
    )
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": "alice@sender.example"}
    dovecot.deliver(user, mail("reply", **values))

    run_engine()
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"
    clock.shift(timedelta(days=2, seconds=1))
    run_engine()

    assert [r.message["Subject"] for r in sink.to(LEAD)] == ["Hello", "Re: Hello"]
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"
    assert stats_of(client_all, campaign_id)["replied"] == 1


@pytest.mark.parametrize("fixture", ["out_of_office", "outlook_automatic_reply"])
def test_an_automatic_answer_is_auto_replied_only(client_all, sink, dovecot, clock, sent, fixture):
    campaign_id, _, user, values = sent
    dovecot.deliver(user, mail(fixture, **values))

    run_engine()

    assert events_of(campaign_id, "AUTO_REPLIED") == 1
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"
    assert stats_of(client_all, campaign_id)["replied"] == 0
    assert next_send_at(campaign_id) is not None  # the sequence goes on


def test_mail_naming_nothing_of_ours_or_another_workspaces_message_counts_nowhere(
    client_all, make_client, other_workspace, sink, dovecot, clock, sent
):
    campaign_id, _, user, values = sent
    other_client = make_client(["*"], other_workspace)
    elsewhere = send_campaign(other_client, sink, emails=(LEAD,), steps=STEPS, name="Globex")
    other_id = sent_id(sink, LEAD)
    assert other_id != values["message_id"]

    dovecot.deliver(
        user,
        mail("unrelated", **values),
        mail("reply_other_workspace", other_message_id=other_id, **values),
    )
    run_engine()

    for client, campaign in ((client_all, campaign_id), (other_client, elsewhere)):
        stats = stats_of(client, campaign)
        assert (stats["replied"], stats["bounced"]) == (0, 0)
        assert lead_of(client, campaign, LEAD)["status"] == "CONTACTED"
    assert events_of(elsewhere, "AUTO_REPLIED") == events_of(campaign_id, "AUTO_REPLIED") == 0


def test_the_inbox_is_never_changed_and_each_message_counts_once(
    client_all, sink, dovecot, clock, sent
):
    campaign_id, _, user, values = sent
    dovecot.deliver(user, mail("reply", **values), mail("unrelated", **values))
    before = dovecot.flags(user)

    run_engine()
    run_engine()
    clock.shift(timedelta(minutes=5))
    run_engine()

    assert dovecot.flags(user) == before
    assert all(b"\\Seen" not in flags for flags in before.values())
    assert stats_of(client_all, campaign_id)["replied"] == 1


def test_only_every_inbox_poll_seconds(client_all, sink, dovecot, clock, sent, settings):
    campaign_id, _, user, values = sent
    settings.INBOX_POLL_SECONDS = 60
    clock.shift(timedelta(seconds=60))
    run_engine()  # reads the inbox: nothing yet
    dovecot.deliver(user, mail("reply", **values))

    clock.shift(timedelta(seconds=59))
    run_engine()
    assert stats_of(client_all, campaign_id)["replied"] == 0

    clock.shift(timedelta(seconds=1))
    run_engine()
    assert stats_of(client_all, campaign_id)["replied"] == 1


def test_an_imap_failure_changes_nothing_and_is_retried_next_round(
    client_all, sink, dovecot, clock, sent
):
    campaign_id, account_id, user, values = sent
    dovecot.deliver(user, mail("reply", **values))
    SenderAccount.objects.filter(pk=account_id).update(imap_password="wrong-password")

    run_engine()

    account = SenderAccount.objects.get(pk=account_id)
    assert account.last_error == "IMAP: The IMAP server refused the username or password."
    assert account.status == "ACTIVE"  # sending goes on
    assert "wrong-password" not in account.last_error
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"

    SenderAccount.objects.filter(pk=account_id).update(imap_password="imap-test-pass")
    run_engine()

    assert SenderAccount.objects.get(pk=account_id).last_error == ""
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"


def test_an_unreachable_server_is_a_secret_free_last_error(client_all, sink, dovecot, clock, sent):
    from tests.delivery_support import free_port

    account_id = sent[1]
    SenderAccount.objects.filter(pk=account_id).update(imap_port=free_port())

    run_engine()

    error = SenderAccount.objects.get(pk=account_id).last_error
    assert error.startswith("IMAP: The IMAP server 127.0.0.1:")
    assert "unreachable" in error


@pytest.mark.parametrize("security", ["SSL", "STARTTLS"])
def test_the_inbox_is_read_over_tls(client_all, sink, dovecot, clock, settings, security):
    settings.IMAP_TLS_CA_FILE = str(dovecot.cert)
    account_id, user = create_inbox_account(client_all, sink, dovecot, security=security)
    campaign_id = send_campaign(client_all, sink, steps=STEPS, account_id=account_id)
    values = {"message_id": sent_id(sink, LEAD), "lead": LEAD, "sender": "alice@sender.example"}
    dovecot.deliver(user, mail("reply", **values))

    run_engine()

    assert SenderAccount.objects.get(pk=account_id).last_error == ""
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"


def test_the_poll_inboxes_command_reads_every_inbox_now(client_all, sink, dovecot, clock, sent):
    from django.core.management import call_command

    campaign_id, _, user, values = sent
    dovecot.deliver(user, mail("reply", **values))

    call_command("poll_inboxes")

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"


def test_a_uidvalidity_change_reads_the_inbox_again_without_counting_twice(
    client_all, sink, dovecot, clock, sent
):
    campaign_id, _, user, values = sent
    dovecot.deliver(user, mail("reply", **values))
    run_engine()
    assert stats_of(client_all, campaign_id)["replied"] == 1
    before = dovecot.uidvalidity(user)

    dovecot.renumber(user)  # the server forgets its UIDs: a new UIDVALIDITY
    dovecot.deliver(user, mail("out_of_office", **values))
    assert dovecot.uidvalidity(user) != before
    run_engine()

    assert stats_of(client_all, campaign_id)["replied"] == 1
    assert events_of(campaign_id, "AUTO_REPLIED") == 1  # the new message counts


def test_the_inbox_is_reached_only_at_the_address_that_was_checked(
    client_all, sink, dovecot, clock, sent, settings, monkeypatch
):
    """DNS rebinding: the inbox's host name answers a public address to the SSRF check and
    loopback (where the IMAP server is) to the next lookup. The connection goes to the checked
    address (unreachable here), so the reply waiting in the loopback inbox is never read."""
    campaign_id, account_id, user, values = sent
    dovecot.deliver(user, mail("reply", **values))
    SenderAccount.objects.filter(pk=account_id).update(imap_host=REBINDING_HOST)
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False
    rebind_dns(monkeypatch)
    run_engine()
    monkeypatch.undo()

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "CONTACTED"  # the reply unread
    assert "unreachable" in SenderAccount.objects.get(pk=account_id).last_error
