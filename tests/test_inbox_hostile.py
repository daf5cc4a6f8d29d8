"""Reading inboxes is as guarded as sending (API.md §8): a poll of one inbox has a total deadline
however slowly its server drips; a message over INBOX_MAX_MESSAGE_BYTES is judged from its
headers alone; no literal over that bound is read into memory, whatever size the server
announces; a message that cannot be read (MIME nested too deep, a broken report) is skipped,
counted in the account's `inbox`, and never stops the messages after it. Real servers: Dovecot,
and hostile ones written here (tests/hostile_servers.py)."""

import time
import tracemalloc

import pytest

from inbound.inbox import poll_account
from inbound.models import InboxState
from sender_accounts.models import SenderAccount
from tests.delivery_support import PASSWORD as SMTP_PASSWORD
from tests.delivery_support import USERNAME, run_engine
from tests.hostile_servers import Mailbox, imap_tarpit, lying_imap
from tests.imap_support import create_inbox_account, mail, sent_id
from tests.processes import start_worker, stop, wait_for
from tests.tracking_support import lead_of, send_campaign
from tests.urls import api_url

LEAD = "ann@example.com"
SENDER = "alice@sender.example"


@pytest.fixture
def inbox_settings(delivery_settings):
    delivery_settings.INBOX_POLL_SECONDS = 0  # every engine round reads the inboxes
    return delivery_settings


pytestmark = pytest.mark.usefixtures("inbox_settings")


def inbox_of(client, account_id: str) -> dict:
    response = client.get(api_url(f"sender_accounts/{account_id}"))
    assert response.status_code == 200, response.content
    return response.json()["inbox"]


def account_reading(client, sink, host_port: int, user: str = "fake") -> str:
    """An SMTP account sending to the sink and reading the IMAP server on `host_port`."""
    body = {
        "type": "SMTP",
        "email": SENDER,
        "display_name": "Alice Sender",
        "smtp": {"host": "127.0.0.1", "port": sink.port, "username": USERNAME,
                 "password": SMTP_PASSWORD, "security": "NONE"},
        "imap": {"host": "127.0.0.1", "port": host_port, "username": user,
                 "password": "imap-secret", "security": "NONE"},
    }  # fmt: skip
    response = client.post(api_url("sender_accounts"), body, format="json")
    assert response.status_code == 201, response.content
    account_id = response.json()["id"]
    SenderAccount.objects.filter(pk=account_id).update(
        min_interval_seconds=0, max_interval_seconds=0
    )
    return account_id


def reply_to(message_id: str) -> bytes:
    return mail("reply", message_id=message_id, lead=LEAD, sender=SENDER)


def nested(depth: int) -> bytes:
    """A message whose multipart parts nest `depth` levels deep."""
    head = b"From: x@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    body = b"text\r\n"
    for level in range(depth, 0, -1):
        boundary = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary
            + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    return head + body


def broken_report(message_id: str) -> bytes:
    """A delay report naming our message whose Status holds bytes that are not ASCII."""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alice@sender.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {LEAD}\r\nAction: delayed\r\nStatus: 4.4.1\xa0\xff\r\n\r\n"
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\n\r\n--r--\r\n"
    ).encode("latin-1")


def test_a_message_that_cannot_be_read_is_skipped_and_the_reply_behind_it_counts(
    client_all, sink, dovecot, clock
):
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, account_id=account_id)
    ours = sent_id(sink, LEAD)
    dovecot.deliver(user, nested(1500), nested(25), broken_report(ours), reply_to(ours))

    run_engine()

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"
    inbox = inbox_of(client_all, account_id)
    assert inbox["skipped"] >= 2  # the two nested too deep; the report may be judged or skipped
    assert inbox["last_error"] == ""
    assert inbox["last_polled_at"] is not None
    skipped = inbox["skipped"]
    run_engine()  # read once: the skipped ones are not tried again
    assert inbox_of(client_all, account_id)["skipped"] == skipped


def test_a_message_over_the_size_limit_is_judged_from_its_headers(
    client_all, sink, dovecot, clock, settings
):
    settings.INBOX_MAX_MESSAGE_BYTES = 50_000
    account_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, account_id=account_id)
    big = reply_to(sent_id(sink, LEAD)).replace(
        b"Ann\r\n", b"Ann\r\n" + b"attachment line of a large file\r\n" * 10_000, 1
    )
    assert len(big) > 200_000
    dovecot.deliver(user, big)

    run_engine()

    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"
    assert inbox_of(client_all, account_id)["skipped"] == 0


def test_a_huge_literal_is_never_read_and_the_next_message_still_counts(client_all, sink, clock):
    mailbox = Mailbox()
    with lying_imap(mailbox) as server:
        account_id = account_reading(client_all, sink, server.port)
        campaign_id = send_campaign(client_all, sink, account_id=account_id)
        mailbox.messages[1] = (2_000, None)  # says 2 KB, then announces 300 MB
        mailbox.messages[2] = (4_000, reply_to(sent_id(sink, LEAD)))
        account = SenderAccount.objects.get(pk=account_id)

        tracemalloc.start()
        poll_account(account)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert peak < 20 * 1024 * 1024, peak  # 300 MB announced, nothing like it held
        assert inbox_of(client_all, account_id) == {
            "last_polled_at": inbox_of(client_all, account_id)["last_polled_at"],
            "skipped": 1,
            "last_error": "IMAP: The IMAP server sent a message over the size limit.",
        }
        assert lead_of(client_all, campaign_id, LEAD)["status"] != "REPLIED"

        poll_account(account)  # the next poll starts after the message it could not read

    assert mailbox.fetched == [1, 2]
    assert lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED"
    assert inbox_of(client_all, account_id)["last_error"] == ""


def test_a_dripping_server_costs_one_poll_its_deadline_only(client_all, sink, clock, settings):
    settings.INBOX_POLL_DEADLINE_SECONDS = 1.5
    with imap_tarpit(interval=0.5) as tarpit:
        account_id = account_reading(client_all, sink, tarpit.port)
        account = SenderAccount.objects.get(pk=account_id)
        started = time.monotonic()
        # Without the deadline the greeting would drip for the tarpit's whole minute.
        poll_account(account)
        took = time.monotonic() - started
    assert took < 30
    state = InboxState.objects.get(pk=account_id)
    assert state.error == "IMAP: Reading the inbox took over 1.5 seconds."
    assert inbox_of(client_all, account_id)["last_error"] == state.error
    assert SenderAccount.objects.get(pk=account_id).status == "ACTIVE"  # sending is untouched


@pytest.mark.django_db(transaction=True)
def test_one_slow_inbox_does_not_hold_up_another_accounts_poll(client_all, sink, dovecot):
    """A real `run_worker` with its task workers: while one inbox's server drips (its poll
    stuck for up to its deadline), another account's reply is read all the same."""
    healthy_id, user = create_inbox_account(client_all, sink, dovecot)
    campaign_id = send_campaign(client_all, sink, account_id=healthy_id)
    ours = sent_id(sink, LEAD)
    with imap_tarpit(interval=1.0, lifetime=300) as tarpit:
        account_reading(client_all, sink, tarpit.port, user="slow")
        # INBOX_POLL_SECONDS=0: every round of the worker (at most 0.2 s apart) finds an inbox
        # due again as soon as its last poll has ended.
        worker = start_worker(tasks=True, INBOX_POLL_SECONDS="0", INBOX_POLL_DEADLINE_SECONDS="300")
        try:
            assert wait_for(lambda: tarpit.connections >= 1, timeout=60)
            dovecot.deliver(user, reply_to(ours))
            assert wait_for(
                lambda: lead_of(client_all, campaign_id, LEAD)["status"] == "REPLIED", timeout=60
            )
            # Due at every round, yet one poll of the slow inbox at a time: it holds one task
            # worker, never all of them.
            time.sleep(1.5)
            assert tarpit.connections == 1
        finally:
            stop([worker])
