"""Conversations read from a real inbox and answered through the API (API.md §11, §10): a
campaign's step 1 goes to the SMTP sink; Dovecot then holds what each lead sent back — a reply
in plain text, one in HTML only, one multipart/alternative in German, French and Japanese
(plain part quoted-printable, HTML part base64), an out-of-office answer and a bounce report.
Once the engine has read the inbox, `GET leads/{id}/messages` shows each lead's thread, oldest
first; `POST leads/{id}/reply` answers in the thread (In-Reply-To and References of RFC 5322
§3.6.4), and lead.replied carries the reply's text cut at 8 KB of UTF-8.

The fixtures are in tests/fixtures/conversations/ (README.md there). Each message is put in
the inbox with an explicit IMAP INTERNALDATE, so `received_at` can be checked exactly."""

import base64
import quopri
import re
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.delivery_support import (
    WEDNESDAY_NOON,
    activate,
    add_lead,
    create_campaign,
    run_engine,
)
from tests.imap_support import create_inbox_account
from tests.urls import api_url

FIXTURES = Path(__file__).parent / "fixtures" / "conversations"
SENDER = "alice@sender.example"
STEPS = [
    {"subject": "Hello", "body": "Hi {{first_name}}!", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 2},
]
# Which fixture each lead sends back, and the kind its item shows.
LEADS = {
    "plain@example.com": ("reply_plain", "REPLY"),
    "html@example.com": ("reply_html", "REPLY"),
    "multi@example.de": ("reply_multilingual", "REPLY"),
    "ooo@example.com": ("auto_reply", "AUTO_REPLY"),
    "gone@example.com": ("dsn", "BOUNCE"),
}


@pytest.fixture
def inbox_settings(delivery_settings, dovecot):
    delivery_settings.INBOX_POLL_SECONDS = 0  # every engine round reads the inboxes
    return delivery_settings


pytestmark = pytest.mark.usefixtures("inbox_settings")


# Mail


def fixture_mail(name: str, **values: str) -> bytes:
    """A fixture message with its placeholders filled in, CRLF line ends."""
    text = (FIXTURES / f"{name}.eml").read_text(encoding="utf-8")
    values = {"date": "Wed, 04 Mar 2026 12:01:00 +0000", "sender": SENDER, **values}
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def deliver(dovecot, user: str, raw: bytes, internal_date: datetime) -> None:
    """IMAP APPEND with an explicit INTERNALDATE (the arrival time the API shows)."""
    client = dovecot.client(user)
    try:
        client.append("INBOX", raw, msg_time=internal_date)
    finally:
        client.logout()


def received(sink, address: str) -> list:
    return [r.message for r in sink.to(address)]


# Reads through the API


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def thread(client, lead_id: str) -> list[dict]:
    """Every item of `GET leads/{id}/messages`, page after page."""
    items, url = [], api_url(f"leads/{lead_id}/messages")
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["results"]
        url = body["next"]
    return items


def events(client, type_: str, lead_id: str) -> list[dict]:
    response = client.get(api_url(f"events?type={type_}&lead_id={lead_id}&limit=100"))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def answer(client, lead_id: str, body: dict):
    return client.post(api_url(f"leads/{lead_id}/reply"), body, format="json")


def lead(client, lead_id: str) -> dict:
    return client.get(api_url(f"leads/{lead_id}")).json()


# Setup


def contact(client, sink, dovecot, addresses) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """A campaign from an account with an inbox; step 1 sent to each address. (account id,
    IMAP user, address → lead id, address → the Message-ID of our step 1)."""
    account_id, user = create_inbox_account(client, sink, dovecot)
    campaign_id = create_campaign(client, [account_id], STEPS)
    ids = {
        address: add_lead(client, campaign_id, address, first_name="Ann") for address in addresses
    }
    activate(client, campaign_id)
    run_engine()
    sent = {}
    for address in addresses:
        (message,) = received(sink, address)
        sent[address] = message["Message-ID"]
    return account_id, user, ids, sent


# Each message arrives a minute after the previous one, the first at 12:01.
def arrival(n: int) -> datetime:
    return WEDNESDAY_NOON + timedelta(minutes=1 + n)


@pytest.fixture
def conversations(client_all, sink, dovecot, clock):
    """Step 1 went to each lead of LEADS at noon; their answers arrived from 12:01 and the
    inbox was read at 12:10. (address → lead id, address → our Message-ID, account id)."""
    account_id, user, ids, sent = contact(client_all, sink, dovecot, list(LEADS))
    for n, (address, (name, _)) in enumerate(LEADS.items()):
        raw = fixture_mail(name, lead=address, message_id=sent[address])
        deliver(dovecot, user, raw, arrival(n))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=10))
    run_engine()
    return ids, sent, account_id


# 1. The thread of each lead, as GET leads/{id}/messages shows it


MULTILINGUAL_PLAIN = (
    "Hallo Alice,\n\nschöne Grüße aus Köln: gern nächste Woche, Straße 5.\n"
    "Déjà vu : ça marche, à jeudi ! Œuvre, garçon.\n"
    "ご連絡ありがとうございます。木曜日は大丈夫です。\n\n— Jörg"
)
EXPECTED = {
    "plain@example.com": {
        "from": "plain@example.com",
        "subject": "RE: Re: Hello",
        "message_id": "<plain-reply-1@mail.example.com>",
        "text": "Hi Alice,\n\nSounds interesting, can we talk on Thursday?\n\nAnn\n\n"
        f"On Wed, Mar 4, 2026 at 12:00 PM Alice Sender <{SENDER}> wrote:\n> Hi Ann!",
    },
    "html@example.com": {
        "from": "html@example.com",
        "subject": "Re: Hello",
        "message_id": "<html-reply-1@mail.example.com>",
    },
    "multi@example.de": {
        "from": "multi@example.de",
        "subject": "Re: Hello — schöne Grüße ありがとう",
        "message_id": "<multi-reply-1@mail.example.de>",
        "text": MULTILINGUAL_PLAIN,
    },
    "ooo@example.com": {
        "from": "ooo@example.com",
        "subject": "Out of office: Hello",
        "message_id": "<ooo-conv-1@mail.example.com>",
        "text": "I am out of the office until March 16 with limited access to email.",
    },
    "gone@example.com": {
        "from": "MAILER-DAEMON@mx.sender.example",
        "subject": "Undelivered Mail Returned to Sender",
        "message_id": "<20260304120001.4ZkQ9C2dConv@mx.sender.example>",
        "in_reply_to": None,  # a bounce report names ours in its returned headers only
    },
}


def test_each_leads_thread_lists_our_step_then_what_came_back(client_all, conversations):
    ids, sent, _ = conversations
    for n, (address, (_, kind)) in enumerate(LEADS.items()):
        items = thread(client_all, ids[address])
        assert [(i["direction"], i["kind"]) for i in items] == [
            ("outbound", "STEP"),
            ("inbound", kind),
        ], address
        step, inbound = items
        assert step["step"] == 1
        assert step["message_id"] == sent[address]
        assert when(step["at"]) == WEDNESDAY_NOON
        assert step["status"] == ("BOUNCED" if kind == "BOUNCE" else "SENT")

        expected = EXPECTED[address]
        assert inbound["from"] == expected["from"], address
        assert inbound["subject"] == expected["subject"], address
        assert inbound["message_id"] == expected["message_id"], address
        in_reply_to = expected.get("in_reply_to", sent[address])
        assert (inbound["in_reply_to"] or None) == in_reply_to, address
        # The IMAP arrival time (INTERNALDATE), not the Date header nor when it was read.
        assert when(inbound["received_at"]) == when(inbound["at"]) == arrival(n), address
        if "text" in expected:
            assert inbound["text"] == expected["text"], address
        assert inbound["id"] != step["id"]


def test_an_html_only_reply_reads_as_text(client_all, conversations):
    ids, _, _ = conversations
    text = thread(client_all, ids["html@example.com"])[1]["text"]

    assert not re.search(r"</?[a-z]+[ >]|&[a-z]+;|&#", text), text  # no tag, no entity
    lines = [line.strip() for line in text.splitlines()]
    assert "Bonjour Alice," in lines
    assert "Céline here & ravie de vous lire." in lines  # <br>: a line of its own
    assert "Our calendar is on this page." in lines  # the link's words
    assert "À bientôt," in lines
    assert "Céline" in lines
    assert lines.index("Bonjour Alice,") < lines.index("À bientôt,")
    assert "never shown" not in text
    assert "p { margin" not in text


def test_non_ascii_text_is_the_decoded_plain_part(client_all, conversations):
    ids, _, _ = conversations
    inbound = thread(client_all, ids["multi@example.de"])[1]

    raw = (FIXTURES / "reply_multilingual.eml").read_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    plain = parsed.get_body(("plain",)).get_content()
    assert inbound["text"] == plain.strip() == MULTILINGUAL_PLAIN
    assert "HTML" not in inbound["text"]  # the plain part, not the HTML one
    # The fixture really is quoted-printable and base64, with a character split by a soft
    # line break.
    assert "Stra=C3=\n=9Fe" in raw.decode()
    assert quopri.decodestring(b"=C3=9F") == "ß".encode()
    html = parsed.get_body(("html",))
    assert html["Content-Transfer-Encoding"] == "base64"
    assert "ご連絡" in base64.b64decode(html.get_payload()).decode()


def test_the_reply_events_carry_the_kept_message(client_all, conversations):
    ids, sent, _ = conversations
    for address, type_ in (
        ("multi@example.de", "lead.replied"),
        ("ooo@example.com", "lead.auto_replied"),
    ):
        (event,) = events(client_all, type_, ids[address])
        inbound = thread(client_all, ids[address])[1]
        reply = event["data"]["reply"]
        assert event["data"]["message_id"] == sent[address]
        assert reply["message"] == inbound["id"]
        assert (reply["from"], reply["subject"], reply["text"]) == (
            inbound["from"],
            inbound["subject"],
            inbound["text"],
        )
        assert reply["text_truncated"] is False
        assert when(reply["received_at"]) == when(inbound["received_at"])


def test_an_arrival_time_later_than_the_read_is_the_read(client_all, sink, dovecot, clock):
    """A server clock ahead of ours: `at` is never later than when the message was read."""
    (address,) = ["plain@example.com"]
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    raw = fixture_mail("reply_plain", lead=address, message_id=sent[address])
    deliver(dovecot, user, raw, WEDNESDAY_NOON + timedelta(hours=3))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()

    inbound = thread(client_all, ids[address])[1]
    assert when(inbound["received_at"]) == WEDNESDAY_NOON + timedelta(minutes=5)


# 2. Answering in the thread


def test_an_answer_goes_in_the_thread_and_the_chain_grows(
    client_all, make_client, sink, dovecot, clock
):
    address = "plain@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    lead_id, step_id = ids[address], sent[address]
    raw = fixture_mail("reply_plain", lead=address, message_id=step_id)
    deliver(dovecot, user, raw, arrival(0))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()
    reply_id = "<plain-reply-1@mail.example.com>"
    assert lead(client_all, lead_id)["status"] == "REPLIED"

    assert answer(make_client(["leads:read"]), lead_id, {"body": "x"}).status_code == 403
    body = "Thursday at 10 then?\n\nAlice — à bientôt"
    response = answer(make_client(["leads:reply"]), lead_id, {"body": body})
    assert response.status_code == 202, response.content
    item = response.json()
    assert (item["direction"], item["kind"], item["status"]) == ("outbound", "ANSWER", "QUEUED")
    assert item["step"] is None

    run_engine()

    (_, first) = received(sink, address)
    assert first["In-Reply-To"] == reply_id
    assert first["References"].split() == [step_id, reply_id]
    assert first["Subject"] == "Re: Hello"  # exactly one "Re: " (the reply's was "RE: Re: ")
    assert first.get_content_type() == "text/plain"
    assert not first.is_multipart()
    assert first.get_content().replace("\r\n", "\n").rstrip("\n") == body
    assert first["List-Unsubscribe"] is None
    assert "/u/" not in first.get_content()
    assert "/o/" not in first.get_content()

    items = thread(client_all, lead_id)
    assert [(i["direction"], i["kind"]) for i in items] == [
        ("outbound", "STEP"),
        ("inbound", "REPLY"),
        ("outbound", "ANSWER"),
    ]
    answered = items[2]
    assert answered["id"] == item["id"]
    assert answered["status"] == "SENT"
    assert answered["message_id"] == first["Message-ID"]
    (event,) = [
        e
        for e in events(client_all, "message.sent", lead_id)
        if e["data"]["message_kind"] == "ANSWER"
    ]
    assert event["data"]["step"] is None
    assert event["data"]["message"] == item["id"]
    assert event["data"]["message_id"] == first["Message-ID"]
    assert lead(client_all, lead_id)["status"] == "REPLIED"  # an answer never moves the lead

    # The lead answers our answer, naming the whole chain; our next answer names it all.
    chain = [step_id, reply_id, first["Message-ID"]]
    second_reply = fixture_mail(
        "reply_to_answer",
        lead=address,
        message_id=first["Message-ID"],
        references=" ".join(chain),
        date="Wed, 04 Mar 2026 12:20:00 +0000",
    )
    deliver(dovecot, user, second_reply, WEDNESDAY_NOON + timedelta(minutes=20))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=30))
    run_engine()
    kinds = [(i["direction"], i["kind"]) for i in thread(client_all, lead_id)]
    assert kinds[-1] == ("inbound", "REPLY"), kinds

    response = answer(client_all, lead_id, {"body": "See you Thursday."})
    assert response.status_code == 202, response.content
    run_engine()

    (_, _, second) = received(sink, address)
    assert second["In-Reply-To"] == "<plain-reply-2@mail.example.com>"
    assert second["References"].split() == [*chain, "<plain-reply-2@mail.example.com>"]
    assert second["Subject"] == "Re: Hello"


def test_an_answer_without_a_reply_answers_our_step_and_a_bounced_lead_is_suppressed(
    client_all, conversations, sink
):
    ids, sent, account_id = conversations
    response = answer(client_all, ids["ooo@example.com"], {"body": "Back soon?", "subject": "Hi"})
    assert response.status_code == 202, response.content
    run_engine()
    (_, message) = received(sink, "ooo@example.com")
    assert message["In-Reply-To"] == sent["ooo@example.com"]  # an auto-reply is not a REPLY
    assert message["References"].split() == [sent["ooo@example.com"]]
    assert message["Subject"] == "Hi"

    response = answer(client_all, ids["gone@example.com"], {"body": "Hello?"})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "suppressed"

    draft = create_campaign(client_all, [account_id], STEPS, name="Not started")
    never = add_lead(client_all, draft, "new@example.com")
    response = answer(client_all, never, {"body": "Hello?"})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "invalid_state"


# 3. The reply's text: 8 KB of UTF-8 in lead.replied, up to 100,000 characters in the thread


def test_a_long_reply_is_cut_in_the_event_and_kept_in_the_thread(client_all, sink, dovecot, clock):
    address = "long@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    # 1,600 lines of 79 characters (with its line end, 80), multi-byte characters among them.
    line = ("Grüße aus Köln, 日本語のテキスト — déjà vu. " * 3)[:73]
    body = "\n".join(f"{n:05} {line}" for n in range(1600))
    assert len(body) > 120_000
    raw = fixture_mail("reply_long", lead=address, message_id=sent[address], body=body)
    deliver(dovecot, user, raw, arrival(0))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()

    inbound = thread(client_all, ids[address])[1]
    assert inbound["kind"] == "REPLY"
    assert inbound["text"] == body[:100_000]
    assert len(inbound["text"]) == 100_000

    (event,) = events(client_all, "lead.replied", ids[address])
    reply = event["data"]["reply"]
    assert reply["text_truncated"] is True
    size = len(reply["text"].encode("utf-8"))
    assert 8 * 1024 - 4 < size <= 8 * 1024  # cut at 8 KB, never inside a character
    assert body.startswith(reply["text"])
    assert reply["message"] == inbound["id"]


# What comes back that the cases above do not show


def test_a_bounce_report_with_an_html_notification_reads_as_that_notification(
    client_all, sink, dovecot, clock
):
    """The delivery-status fields and the returned message are parts of the report, not its
    text: the text is the HTML notification, turned to text."""
    address = "gone@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    raw = fixture_mail("dsn_html_notification", lead=address, message_id=sent[address])
    deliver(dovecot, user, raw, arrival(0))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()

    inbound = thread(client_all, ids[address])[1]
    assert inbound["kind"] == "BOUNCE"
    assert "Delivery has failed to these recipients:" in inbound["text"]
    assert "wasn't found at the destination domain" in inbound["text"]
    assert "Hi Ann!" not in inbound["text"]


def test_a_reply_naming_only_our_answer_is_kept_in_the_thread(client_all, sink, dovecot, clock):
    """A client that sends In-Reply-To and References naming only the message it answers: our
    answer is one of ours (API.md §8, §11)."""
    address = "plain@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    lead_id = ids[address]
    raw = fixture_mail("reply_plain", lead=address, message_id=sent[address])
    deliver(dovecot, user, raw, arrival(0))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()
    assert answer(client_all, lead_id, {"body": "Thursday at 10?"}).status_code == 202
    run_engine()
    ours = received(sink, address)[-1]["Message-ID"]

    raw = fixture_mail(
        "reply_to_answer", lead=address, message_id=ours, references=ours,
        date="Wed, 04 Mar 2026 12:20:00 +0000",
    )  # fmt: skip
    deliver(dovecot, user, raw, WEDNESDAY_NOON + timedelta(minutes=20))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=30))
    run_engine()

    last = thread(client_all, lead_id)[-1]
    assert (last["direction"], last["kind"]) == ("inbound", "REPLY")
    assert last["in_reply_to"] == ours


def test_an_answer_to_a_reply_without_references_keeps_the_chain(client_all, sink, dovecot, clock):
    """RFC 5322 §3.6.4: a parent with In-Reply-To (one id) and no References gives References
    = that id, then the parent's own."""
    address = "plain@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    raw = fixture_mail("reply_plain", lead=address, message_id=sent[address])
    raw = raw.replace(f"References: {sent[address]}\r\n".encode(), b"")
    assert b"References:" not in raw
    deliver(dovecot, user, raw, arrival(0))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()
    assert thread(client_all, ids[address])[-1]["kind"] == "REPLY"

    assert answer(client_all, ids[address], {"body": "Thursday at 10?"}).status_code == 202
    run_engine()

    sent_answer = received(sink, address)[-1]
    assert sent_answer["In-Reply-To"] == "<plain-reply-1@mail.example.com>"
    assert sent_answer["References"].split() == [sent[address], "<plain-reply-1@mail.example.com>"]


def test_a_reply_holding_nul_and_raw_8bit_bytes_is_kept_readable(client_all, sink, dovecot, clock):
    """PostgreSQL stores no NUL in text, and a raw 8-bit UTF-8 subject is what unlabelled mail
    sends: the reply is kept (never a message that stops the inbox), its text readable."""
    address = "nul@example.com"
    _, user, ids, sent = contact(client_all, sink, dovecot, [address])
    raw = fixture_mail("reply_long", lead=address, message_id=sent[address], body="Yes\x00 please")
    raw = raw.replace(b"Subject: ", "Subject: Café ".encode(), 1)
    deliver(dovecot, user, raw, arrival(0))
    later = fixture_mail("reply_plain", lead=address, message_id=sent[address])
    deliver(dovecot, user, later.replace(b"Message-ID: <", b"Message-ID: <later-", 1), arrival(1))
    clock.move_to(WEDNESDAY_NOON + timedelta(minutes=5))
    run_engine()

    items = thread(client_all, ids[address])
    inbound = [item for item in items if item["direction"] == "inbound"]
    assert len(inbound) == 2  # the next message was read too: nothing stopped the inbox
    assert "\x00" not in inbound[0]["text"]
    assert inbound[0]["text"].startswith("Yes")
    assert inbound[0]["subject"].startswith("Café ")
