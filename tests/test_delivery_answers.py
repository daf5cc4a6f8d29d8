"""Whose fault an SMTP answer is (API.md §7), against a real SMTP server (aiosmtpd) answering
each class at each phase. The phase first: nothing answered before RCPT TO touches a lead. Then
the RFC 3463 enhanced code: a hard bounce (BOUNCED, the address suppressed), refused (FAILED,
nothing suppressed) or temporary (tried again with backoff, FAILED when the tries are spent)."""

from datetime import timedelta

import pytest

from campaigns.models import Campaign
from delivery.models import Message
from tests.delivery_support import (
    activate,
    add_lead,
    add_leads,
    campaign,
    create_account,
    create_campaign,
    free_port,
    leads_of,
    pause,
    run_engine,
)
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

LEAD = "ann@example.com"


def account_of(client, account_id: str) -> dict:
    response = client.get(api_url(f"sender_accounts/{account_id}"))
    assert response.status_code == 200, response.content
    return response.json()


def suppressed(client, account_id: str, address: str) -> str:
    """The status a new lead with `address` takes in another campaign of the workspace: BOUNCED
    when the address is suppressed, PENDING when it is not."""
    other = create_campaign(client, [account_id], name="Probe")
    lead_id = add_lead(client, other, address)
    return client.get(api_url(f"leads/{lead_id}")).json()["status"]


def send_one(client, sink, **answers: dict) -> tuple[str, str]:
    """One lead, one step, the server scripted by `answers`; the engine run once."""
    for name, value in answers.items():
        setattr(sink, name, value)
    account_id = create_account(client, sink)
    campaign_id = create_campaign(client, [account_id])
    add_lead(client, campaign_id, LEAD)
    activate(client, campaign_id)
    run_engine()
    return account_id, campaign_id


HARD = [
    ("rcpt_answers", "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"),
    ("rcpt_answers", "550 Requested action not taken: mailbox unavailable"),  # no enhanced code
    ("rcpt_answers", "551 User not local"),
    ("rcpt_answers", "553 5.1.3 Bad recipient address syntax"),
    ("rcpt_answers", "550 5.2.1 The email account that you tried to reach is disabled."),
    ("rcpt_answers", "550 5.0.0 <ann@example.com>... User unknown"),  # X.0.0: as no code
    ("data_answers", "550 5.1.1 The email account that you tried to reach does not exist."),
]


@pytest.mark.parametrize(("phase", "answer"), HARD)
def test_a_hard_bounce_bounces_the_lead_and_suppresses_the_address(
    client_all, sink, clock, phase, answer
):
    account_id, campaign_id = send_one(client_all, sink, **{phase: {LEAD: answer}})

    lead = leads_of(client_all, campaign_id)[LEAD]
    assert (lead["status"], lead["next_send_at"]) == ("BOUNCED", None)
    message = client_all.get(api_url(f"leads/{lead['id']}/messages")).json()["results"][0]
    assert (message["status"], message["error"]) == ("BOUNCED", answer)
    stats = campaign(client_all, campaign_id)["stats"]
    assert (stats["bounced"], stats["bounce_rate"]) == (1, 1.0)
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
    account = account_of(client_all, account_id)
    assert (account["status"], account["stats"]["bounced"]) == ("ACTIVE", 1)
    assert suppressed(client_all, account_id, LEAD) == "BOUNCED"


REFUSED = [
    ("rcpt_answers", "554 5.7.1 <ann@example.com>: Relay access denied"),
    ("rcpt_answers", "550 5.7.26 Unauthenticated email is not accepted (DMARC policy)"),
    ("rcpt_answers", "554 Transaction failed"),  # no enhanced code at RCPT, not 550/551/553
    ("data_answers", "554 5.7.1 Message rejected as spam by Content Filtering."),
    ("data_answers", "552 5.3.4 Message size exceeds fixed maximum message size"),
    ("data_answers", "550 5.6.0 Lone CR or LF in headers"),
]


@pytest.mark.parametrize(("phase", "answer"), REFUSED)
def test_a_refusal_fails_the_lead_and_suppresses_nothing(client_all, sink, clock, phase, answer):
    account_id, campaign_id = send_one(client_all, sink, **{phase: {LEAD: answer}})

    lead = leads_of(client_all, campaign_id)[LEAD]
    assert (lead["status"], lead["next_send_at"]) == ("FAILED", None)
    message = client_all.get(api_url(f"leads/{lead['id']}/messages")).json()["results"][0]
    assert (message["status"], message["error"], message["attempts"]) == ("FAILED", answer, 1)
    stats = campaign(client_all, campaign_id)["stats"]
    assert (stats["bounced"], stats["bounce_rate"]) == (0, 0.0)
    assert account_of(client_all, account_id)["status"] == "ACTIVE"
    assert suppressed(client_all, account_id, LEAD) == "PENDING"


TEMPORARY = [
    ("rcpt_answers", "451 4.3.0 Mail server temporarily rejected message"),
    ("rcpt_answers", "421 4.7.0 Try again later, closing connection"),
    ("rcpt_answers", "452 4.2.2 The email account that you tried to reach is over quota"),
    ("rcpt_answers", "552 5.2.2 Mailbox full"),
    ("rcpt_answers", "552 Requested mail action aborted: exceeded storage allocation"),
    ("data_answers", "500 Error: (FileNotFoundError) [Errno 2] No such file or directory"),
    ("data_answers", "554 Transaction failed"),  # a bare 5xx after DATA: the server's trouble
    ("data_answers", "552 5.2.3 Message length exceeds administrative limit"),
]


@pytest.mark.parametrize(("phase", "answer"), TEMPORARY)
def test_a_temporary_failure_is_tried_again_then_fails(client_all, sink, clock, phase, answer):
    account_id, campaign_id = send_one(client_all, sink, **{phase: {LEAD: answer}})

    lead = leads_of(client_all, campaign_id)[LEAD]
    assert lead["status"] == "PENDING"
    assert lead["next_send_at"] == "2026-03-04T12:10:00Z"  # SEND_RETRY_BACKOFF_SECONDS later
    # Tried again with backoff: 10, 20, 40 minutes (SEND_MAX_ATTEMPTS = 4 in these tests).
    for wait in (10, 20, 40):
        clock.shift(timedelta(minutes=wait))
        run_engine()
    lead = leads_of(client_all, campaign_id)[LEAD]
    assert (lead["status"], lead["next_send_at"]) == ("FAILED", None)
    message = client_all.get(api_url(f"leads/{lead['id']}/messages")).json()["results"][0]
    assert (message["status"], message["attempts"]) == ("FAILED", 4)
    assert message["error"] == answer
    stats = campaign(client_all, campaign_id)["stats"]
    assert (stats["bounced"], stats["bounce_rate"]) == (0, 0.0)
    assert account_of(client_all, account_id)["status"] == "ACTIVE"
    assert suppressed(client_all, account_id, LEAD) == "PENDING"


def test_a_server_fault_after_data_suppresses_nothing(client_all, sink, clock):
    """The issue's case: a local server answering 500 after DATA for every message."""
    emails = [f"l{i}@example.com" for i in range(4)]
    sink.data_answers = dict.fromkeys(emails, "500 Error: (FileNotFoundError) no such file")
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_leads(client_all, campaign_id, [{"email": e} for e in emails])
    activate(client_all, campaign_id)
    run_engine()

    assert {lead["status"] for lead in leads_of(client_all, campaign_id).values()} == {"PENDING"}
    body = campaign(client_all, campaign_id)
    assert (body["status"], body["stats"]["bounced"]) == ("ACTIVE", 0)
    assert all(suppressed(client_all, account_id, e) == "PENDING" for e in emails)
    # The server is mended: the next try delivers.
    sink.data_answers = {}
    clock.shift(timedelta(minutes=10))
    run_engine()
    assert sorted(r.rcpt_tos[0] for r in sink.received) == emails


ACCOUNT_PHASE = [
    "554 5.7.1 <alice@sender.example>: Sender address rejected: Access denied",
    "553 5.1.8 Sender address domain does not exist",  # a 5.1.x about the sender, not a lead
    "451 4.3.0 Temporary lookup failure",
    "421 4.7.0 Too many connections, try again later",
]


@pytest.mark.parametrize("answer", ACCOUNT_PHASE)
def test_mail_from_refused_is_the_accounts_fault(client_all, sink, clock, answer):
    account_id, campaign_id = send_one(client_all, sink, mail_answer=answer)

    # The lead is untouched: no message, no try spent; it waits ACCOUNT_RETRY_SECONDS.
    lead = leads_of(client_all, campaign_id)[LEAD]
    assert (lead["status"], lead["current_step"]) == ("PENDING", 0)
    assert lead["next_send_at"] == "2026-03-04T12:00:10Z"
    assert client_all.get(api_url(f"leads/{lead['id']}/messages")).json()["results"] == []
    account = account_of(client_all, account_id)
    assert account["status"] == "ACTIVE"  # the first in a row
    assert account["last_error"].startswith("MAIL FROM refused: " + answer.split(" <")[0][:9])
    assert account["stats"]["sent_today"] == 0  # it never reached RCPT TO
    assert campaign(client_all, campaign_id)["stats"]["bounced"] == 0
    assert suppressed(client_all, account_id, "alice@sender.example") == "PENDING"

    # Two more in a row: the account is in ERROR, its lead waits (never FAILED).
    for _ in range(2):
        clock.shift(timedelta(seconds=10))
        run_engine()
    account = account_of(client_all, account_id)
    assert account["status"] == "ERROR"
    assert account["last_error"].startswith("MAIL FROM refused: ")
    lead = leads_of(client_all, campaign_id)[LEAD]
    assert (lead["status"], lead["current_step"]) == ("PENDING", 0)
    assert not Message.objects.filter(lead_id=lead["id"]).exists()


def test_authentication_refused_at_mail_from_is_an_error_at_once(client_all, sink, clock):
    account_id, campaign_id = send_one(
        client_all, sink, mail_answer="530 5.7.0 Authentication required"
    )
    account = account_of(client_all, account_id)
    assert account["status"] == "ERROR"
    assert account["last_error"] == "MAIL FROM refused: 530 5.7.0 Authentication required"
    assert leads_of(client_all, campaign_id)[LEAD]["status"] == "PENDING"


def test_authentication_refused_is_an_error_at_once(client_all, sink, clock):
    account_id, campaign_id = send_one(client_all, sink, refuse_auth=True)
    account = account_of(client_all, account_id)
    assert (account["status"], account["last_error"]) == ("ERROR", "Authentication refused (535).")
    assert leads_of(client_all, campaign_id)[LEAD]["status"] == "PENDING"


def test_an_unreachable_server_is_an_error_at_once(client_all, sink, clock):
    port = free_port()  # nothing listens there
    account_id = create_account(client_all, sink, port=port)
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    run_engine()
    account = account_of(client_all, account_id)
    assert account["status"] == "ERROR"
    assert account["last_error"] == f"Cannot connect to 127.0.0.1:{port} (ConnectionRefusedError)."
    assert leads_of(client_all, campaign_id)[LEAD]["status"] == "PENDING"


def test_a_sent_message_ends_the_accounts_failures_in_a_row(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(3)])
    activate(client_all, campaign_id)

    def round_with(answer: str | None) -> None:
        sink.mail_answer = answer
        run_engine()
        clock.shift(timedelta(seconds=10))

    round_with("451 4.3.0 Try later")
    round_with("451 4.3.0 Try later")
    round_with(None)  # all three leads go
    assert len(sink.received) == 3
    assert account_of(client_all, account_id)["last_error"] == ""
    add_leads(client_all, campaign_id, [{"email": "l9@example.com"}])
    round_with("451 4.3.0 Try later")
    round_with("451 4.3.0 Try later")
    assert account_of(client_all, account_id)["status"] == "ACTIVE"  # 2 in a row, not 4


def five_bounces_then(client, sink, before_last: list[str] | None = None) -> tuple[str, str]:
    account_id = create_account(client, sink)
    campaign_id = create_campaign(client, [account_id])
    dead = [f"dead{i}@example.com" for i in range(5)]
    sink.reject.update(dead)
    add_leads(client, campaign_id, [{"email": e} for e in dead[:4]])
    activate(client, campaign_id)
    run_engine()
    for address in before_last or []:
        add_lead(client, campaign_id, address)
        run_engine()
    add_leads(client, campaign_id, [{"email": dead[4]}, {"email": "later@example.com"}])
    run_engine()
    return account_id, campaign_id


def test_five_hard_bounces_in_a_row_pause_the_campaign(client_all, sink, clock):
    _, campaign_id = five_bounces_then(client_all, sink)
    body = campaign(client_all, campaign_id)
    assert (body["status"], body["paused_reason"]) == ("PAUSED", "bounce_rate")
    assert leads_of(client_all, campaign_id)["later@example.com"]["status"] == "PENDING"
    assert sink.to("later@example.com") == []


def test_a_sent_message_ends_the_row_of_bounces(client_all, sink, clock):
    _, campaign_id = five_bounces_then(client_all, sink, before_last=["alive@example.com"])
    body = campaign(client_all, campaign_id)
    assert body["status"] == "COMPLETED"  # 4 bounces, a send, 1 bounce: under 20 attempts
    assert body["stats"]["bounced"] == 5


def test_refusals_neither_count_nor_end_the_row(client_all, sink, clock):
    sink.rcpt_answers = {"spam@example.com": "554 5.7.1 Rejected as spam"}
    _, campaign_id = five_bounces_then(client_all, sink, before_last=["spam@example.com"])
    assert campaign(client_all, campaign_id)["status"] == "PAUSED"


def test_activate_starts_the_row_again(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    dead = [f"dead{i}@example.com" for i in range(5)]
    sink.reject.update(dead)
    add_leads(client_all, campaign_id, [{"email": e} for e in dead[:4]])
    activate(client_all, campaign_id)
    run_engine()
    add_lead(client_all, campaign_id, "waiting@example.com")
    pause(client_all, campaign_id)
    activate(client_all, campaign_id)
    add_leads(client_all, campaign_id, [{"email": dead[4]}])
    run_engine()
    assert Campaign.objects.get(pk=campaign_id).paused_reason is None


def test_an_import_counts_suppressed_addresses_and_stats_count_bounces_only(
    client_all, sink, clock
):
    account_id, _ = send_one(client_all, sink, rcpt_answers={LEAD: "550 5.1.1 No such user"})
    second = create_campaign(client_all, [account_id], name="Second")
    response = client_all.post(
        api_url("leads/import"),
        {"campaign_id": second, "leads": [{"email": LEAD}, {"email": "bob@example.com"}]},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["created"], response.json()["suppressed"]) == (2, 1)
    stats = campaign(client_all, second)["stats"]
    assert stats["leads_by_status"]["BOUNCED"] == 1
    assert (stats["bounced"], stats["bounce_rate"]) == (0, 0.0)
