"""What arrives at the SMTP server: Message-ID on the sender's domain, the thread headers of
follow-ups, `Re: ` subjects, RFC 8058 unsubscribe headers written literally, the unsubscribe
line in the body, header injection neutralised."""

import re
import uuid
from datetime import timedelta

import pytest

from delivery import tokens
from delivery.models import Message
from tests.delivery_support import (
    activate,
    add_lead,
    api_url,
    create_account,
    create_campaign,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "Quick question, {{first_name}}", "body": "Hello {{first_name}}", "delay_days": 0},
    {"subject": "", "body": "Following up", "delay_days": 1},
    {"subject": "", "body": "Last try", "delay_days": 1},
]


def raw_headers(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def test_follow_ups_thread_on_the_received_bytes(client_all, sink, clock):
    account = create_account(client_all, sink, email="alice@sender.example")
    campaign_id = create_campaign(client_all, [account], STEPS)
    add_lead(client_all, campaign_id, "bob@example.com", first_name="Bob")
    activate(client_all, campaign_id)
    for _ in STEPS:
        run_engine()
        clock.shift(timedelta(days=1))

    first, second, third = (r.message for r in sink.received)
    ids = [m["Message-ID"] for m in (first, second, third)]
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"<[^<>@\s]+@sender\.example>", i) for i in ids)
    assert first["In-Reply-To"] is None
    assert first["References"] is None
    assert second["In-Reply-To"] == ids[0]
    assert second["References"] == ids[0]
    assert third["In-Reply-To"] == ids[1]
    assert third["References"].split() == ids[:2]
    assert first["Subject"] == "Quick question, Bob"
    assert second["Subject"] == third["Subject"] == "Re: Quick question, Bob"
    assert all(r.mail_from == "alice@sender.example" for r in sink.received)
    # What was stored is what was sent (the messages endpoint shows it).
    stored = list(Message.objects.order_by("step").values_list("message_id", "subject", "status"))
    assert stored == [
        (ids[0], first["Subject"], "SENT"),
        (ids[1], second["Subject"], "SENT"),
        (ids[2], third["Subject"], "SENT"),
    ]


def test_unsubscribe_headers_are_literal_and_signed(client_all, sink, clock, settings):
    settings.PUBLIC_BASE_URL = "https://links.cold-outreach-service.example.com/a/rather/long/path"
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account])
    add_lead(client_all, campaign_id, "bob@example.com")
    activate(client_all, campaign_id)
    run_engine()

    [received] = sink.received
    headers = raw_headers(received.data)
    match = re.search(rb"\r\nList-Unsubscribe: <([^>]+)>\r\n", headers)
    assert match, headers  # one line, never folded into encoded-words
    url = match.group(1).decode()
    assert b"=?" not in headers.split(b"List-Unsubscribe:", 1)[1].split(b"\r\n")[0]
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in headers
    assert url.startswith(settings.PUBLIC_BASE_URL + "/u/")
    message = Message.objects.get()
    assert tokens.unsign("unsubscribe", url.rsplit("/", 1)[1]) == (message.pk, "")
    # The body ends with a line carrying the same URL.
    body = received.body
    assert body.rstrip("\n").splitlines()[-1] == f"Unsubscribe: {url}"


def test_without_the_unsubscribe_link_the_body_is_left_alone(client_all, sink, clock):
    account = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account])
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=campaign_id).update(include_unsubscribe_link=False)
    add_lead(client_all, campaign_id, "bob@example.com")
    activate(client_all, campaign_id)
    run_engine()
    [received] = sink.received
    assert received.body == "Hi!\n"
    assert received.message["List-Unsubscribe"].startswith("<https://cold.example.com/u/")


def test_tokens_survive_a_key_rotation_and_refuse_forgeries(settings):
    message_id = uuid.uuid4()
    token = tokens.sign("unsubscribe", message_id)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation"
    assert tokens.unsign("unsubscribe", token) == (message_id, "")
    assert tokens.unsign("unsubscribe", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.unsign("open", token) is None  # another kind, another salt
    assert tokens.unsign("unsubscribe", uuid.uuid4().hex + "." + token.split(".")[1]) is None


def test_header_values_lose_their_control_characters(client_all, sink, clock):
    response = client_all.post(
        api_url("sender_accounts"),
        {
            "type": "SMTP",
            "email": "alice@sender.example",
            "display_name": "Alice",
            "smtp": {
                "host": "127.0.0.1",
                "port": sink.port,
                "username": "mailer",
                "password": "s3cret-smtp-pass",
                "security": "NONE",
            },
        },
        format="json",
    )
    account = response.json()["id"]
    from sender_accounts.models import SenderAccount

    SenderAccount.objects.filter(pk=account).update(
        min_interval_seconds=0,
        max_interval_seconds=0,
        display_name="Alice\r\nBcc: evil@example.com",
    )
    campaign_id = create_campaign(
        client_all, [account], [{"subject": "Hi {{company}}", "body": "x", "delay_days": 0}]
    )
    add_lead(
        client_all, campaign_id, "bob@example.com", company="ACME\r\nBcc: evil@example.com\x07"
    )
    activate(client_all, campaign_id)
    run_engine()

    [received] = sink.received
    assert received.rcpt_tos == ["bob@example.com"]
    headers = raw_headers(received.data)
    assert b"\r\nBcc:" not in headers
    message = received.message
    assert message["Subject"] == "Hi ACME  Bcc: evil@example.com"
    assert message["Bcc"] is None
    assert "evil@example.com" not in message["To"]


def test_internationalised_domains_go_out_in_their_ascii_form(client_all, sink, clock):
    """An address on an internationalised domain (the API accepts them) is carried in its IDNA
    2008 form (as it was validated: straße stays ß, xn--strae-oqa, not strasse), in the
    envelope and the headers alike, as SMTP without SMTPUTF8 requires."""
    account = create_account(client_all, sink, email="alice@absender-ä.example")
    campaign_id = create_campaign(client_all, [account], STEPS[:1])
    add_lead(client_all, campaign_id, "bob@straße.example", first_name="Bob")
    activate(client_all, campaign_id)

    run_engine()

    (received,) = sink.received
    assert received.mail_from == "alice@xn--absender--32a.example"
    assert received.rcpt_tos == ["bob@xn--strae-oqa.example"]
    headers = raw_headers(received.data).decode("ascii")
    assert "\r\nTo: bob@xn--strae-oqa.example\r\n" in headers
    assert "<alice@xn--absender--32a.example>" in headers  # From
    # On one line however long (a folded Message-ID is not recognised by every client).
    assert re.search(r"\r\nMessage-ID: <[^<>@\s]+@xn--absender--32a\.example>\r\n", headers)
    assert Message.objects.get().status == "SENT"
