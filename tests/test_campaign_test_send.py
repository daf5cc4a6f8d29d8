"""`POST campaigns/{id}/test` (API.md §7): one rendering of a step sent now, `[Test] ` before its
subject, from the first ACTIVE account, outside the window and the gap, counted in that
account's daily limit (not the campaign's); nothing else changes, and its links record nothing;
409 `not_ready` without an ACTIVE account; at most 2 checks or test sends at once per
workspace."""

import threading
import time

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign, CampaignStep
from delivery.models import Message
from engagement.models import EmailEvent, Suppression
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    activate,
    add_lead,
    create_account,
    create_campaign,
    run_engine,
)
from tests.hostile_servers import smtp_tarpit
from tests.processes import wait_for
from tests.tracking_support import links_in, parts
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

TESTER = "tester@example.org"
STEPS = [
    {"subject": "Hello {{first_name|there}}", "body": "Hi {{first_name|there}}!"},
    {"subject": "", "body": "Following up, {{first_name|friend}}.", "delay_days": 2},
]
# Closed on a Wednesday (the `clock` fixture's day): the test goes all the same.
WEEKENDS = {"timezone": "UTC", "days": [6, 7], "start_time": "09:00", "end_time": "17:00"}


def send_test(client, campaign_id: str, body: dict):
    return client.post(api_url(f"campaigns/{campaign_id}/test"), body, format="json")


def account_of(client, account_id: str) -> dict:
    return client.get(api_url(f"sender_accounts/{account_id}")).json()


def sent_today(client, account_id: str) -> int:
    return account_of(client, account_id)["stats"]["sent_today"]


@pytest.fixture
def setup(client_all, sink) -> dict:
    disabled = create_account(client_all, sink, email="off@sender.example", display_name="Off")
    account = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=disabled).update(status=SenderAccount.Status.DISABLED)
    campaign = create_campaign(client_all, [account, disabled], STEPS, schedule=WEEKENDS)
    lead = add_lead(client_all, campaign, "ada@example.com", first_name="Ada")
    return {"account": account, "disabled": disabled, "campaign": campaign, "lead": lead}


def test_a_test_arrives_from_the_first_active_account_outside_the_window(
    client_all, sink, clock, setup
):
    activate(client_all, setup["campaign"])  # ACTIVE, but its window is closed now
    response = send_test(client_all, setup["campaign"], {"step": 1, "to": "Tester@Example.org"})
    assert response.status_code == 200, response.content
    assert response.json() == {"sent": True, "error": None}
    [received] = sink.received
    assert received.rcpt_tos == [TESTER]
    assert received.mail_from == "alice@sender.example"
    message = received.message
    assert message["Subject"] == "[Test] Hello there"
    assert message["From"] == "Alice Sender <alice@sender.example>"
    assert message["To"] == TESTER
    assert message["In-Reply-To"] is None
    assert message["List-Unsubscribe"].startswith("<https://cold.example.com/u/")
    assert received.body.startswith("Hi there!\n\nUnsubscribe: https://cold.example.com/u/")


def test_a_test_for_a_lead_renders_it_and_a_follow_up_reads_re(client_all, sink, clock, setup):
    response = send_test(
        client_all, setup["campaign"], {"step": 2, "to": TESTER, "lead_id": setup["lead"]}
    )
    assert response.json() == {"sent": True, "error": None}
    [received] = sink.received
    assert received.message["Subject"] == "[Test] Re: Hello Ada"
    assert received.message["References"] is None
    assert received.body.startswith("Following up, Ada.\n\nUnsubscribe: ")
    assert received.rcpt_tos == [TESTER]  # never the lead


def test_nothing_but_the_accounts_count_changes(client_all, sink, clock, setup):
    campaign_url = api_url(f"campaigns/{setup['campaign']}")
    lead_url = api_url(f"leads/{setup['lead']}")
    before = (
        client_all.get(campaign_url).json(),
        client_all.get(lead_url).json(),
        client_all.get(f"{lead_url}/messages").json(),
    )
    for step in (1, 2):
        body = {"step": step, "to": TESTER, "lead_id": setup["lead"]}
        assert send_test(client_all, setup["campaign"], body).json()["sent"] is True
    after = (
        client_all.get(campaign_url).json(),
        client_all.get(lead_url).json(),
        client_all.get(f"{lead_url}/messages").json(),
    )
    assert after == before
    assert after[1]["status"] == "PENDING"
    assert (Message.objects.count(), EmailEvent.objects.count()) == (0, 0)
    assert sent_today(client_all, setup["account"]) == 2
    assert account_of(client_all, setup["account"])["stats"]["sent_total"] == 0
    assert [a.extra for a in AuditEvent.objects.filter(action="campaign.test_sent")] == [
        {
            "step": step,
            "to": TESTER,
            "lead_id": setup["lead"],
            "sender_account_id": setup["account"],
            "sent": True,
            "error": None,
        }
        for step in (2, 1)  # newest first
    ]


def test_it_counts_in_the_accounts_daily_limit_not_the_campaigns(client_all, sink, clock):
    account = create_account(client_all, sink, daily_limit=2)
    campaign = create_campaign(client_all, [account], STEPS, daily_limit=1)
    add_lead(client_all, campaign, "ada@example.com")
    assert send_test(client_all, campaign, {"step": 1, "to": TESTER}).json()["sent"] is True
    assert sent_today(client_all, account) == 1
    # The campaign's own limit (1) is untouched: its lead still goes today.
    activate(client_all, campaign)
    assert run_engine() == 1
    assert sent_today(client_all, account) == 2
    # The account is at its limit now: nothing is sent.
    response = send_test(client_all, campaign, {"step": 1, "to": TESTER})
    assert response.status_code == 200
    assert response.json() == {
        "sent": False,
        "error": "The sender account has reached its daily limit (2 in the last 24 hours): "
        "nothing was sent.",
    }
    assert len(sink.to(TESTER)) == 1
    assert sent_today(client_all, account) == 2


def test_a_refused_recipient_is_sent_false_with_the_answer(client_all, sink, clock, setup):
    sink.reject = {TESTER}
    response = send_test(client_all, setup["campaign"], {"step": 1, "to": TESTER})
    assert response.status_code == 200
    assert response.json() == {
        "sent": False,
        "error": f"550 5.1.1 <{TESTER}>: Recipient address rejected",
    }
    assert sent_today(client_all, setup["account"]) == 1  # an SMTP attempt counts
    assert not Suppression.objects.exists()  # a test's bounce suppresses nothing
    assert account_of(client_all, setup["account"])["status"] == "ACTIVE"


def test_an_account_that_fails_is_reported_and_left_as_it_is(client_all, sink, clock, setup):
    sink.refuse_auth = True
    response = send_test(client_all, setup["campaign"], {"step": 1, "to": TESTER})
    assert response.status_code == 200
    assert response.json() == {"sent": False, "error": "Authentication refused (535)."}
    account = account_of(client_all, setup["account"])
    assert (account["status"], account["last_error"]) == ("ACTIVE", "")
    assert account["stats"]["sent_today"] == 0  # nothing was attempted


def test_a_suppressed_address_gets_no_test(client_all, sink, clock, setup):
    Suppression.objects.create(
        workspace_id=SenderAccount.objects.get(pk=setup["account"]).workspace_id,
        email=TESTER,
        reason=Suppression.Reason.UNSUBSCRIBED,
        created_at=timezone.now(),
    )
    response = send_test(client_all, setup["campaign"], {"step": 1, "to": TESTER})
    assert response.json() == {
        "sent": False,
        "error": "The address is suppressed in this workspace (unsubscribed or bounced): "
        "nothing was sent.",
    }
    assert sink.received == []
    assert sent_today(client_all, setup["account"]) == 0


def test_the_unsubscribe_and_tracking_links_of_a_test_record_nothing(
    client_all, sink, clock, setup
):
    Campaign.objects.filter(pk=setup["campaign"]).update(tracking={"opens": True, "clicks": True})
    CampaignStep.objects.filter(campaign_id=setup["campaign"], position=1).update(
        body="See https://example.com/pricing"
    )
    assert send_test(client_all, setup["campaign"], {"step": 1, "to": TESTER}).json()["sent"]
    texts = parts(sink.received[0])
    public = Client(enforce_csrf_checks=True)
    [unsubscribe] = links_in(texts["text/plain"], "u")
    [click] = links_in(texts["text/plain"], "c")
    [pixel] = links_in(texts["text/html"], "o")
    assert public.get(unsubscribe).status_code == 404  # as any unknown token
    assert public.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert public.get(click).status_code == 404
    assert public.get(pixel).status_code == 200
    assert not Suppression.objects.exists()
    assert EmailEvent.objects.count() == 0
    # The address stays free: a lead added with it afterwards is PENDING.
    lead = client_all.post(
        api_url("leads"), {"campaign_id": setup["campaign"], "email": TESTER}, format="json"
    )
    assert lead.json()["status"] == "PENDING"


# Not ready


@pytest.mark.parametrize(
    ("statuses", "problem"),
    [
        ([], "The campaign has no sender account."),
        (
            ["DISABLED", "ERROR"],
            "No sender account of the campaign is ACTIVE (DISABLED or in ERROR).",
        ),
    ],
)
def test_no_active_account_is_409_not_ready(client_all, sink, clock, statuses, problem):
    accounts = [
        create_account(client_all, sink, email=f"s{n}@sender.example") for n in range(len(statuses))
    ]
    for account, status in zip(accounts, statuses, strict=True):
        SenderAccount.objects.filter(pk=account).update(status=status)
    campaign = create_campaign(client_all, accounts, STEPS)
    response = send_test(client_all, campaign, {"step": 1, "to": TESTER})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The campaign has no sender account to send a test from.",
        "code": "not_ready",
        "problems": [problem],
    }
    assert sink.received == []
    assert not AuditEvent.objects.filter(action="campaign.test_sent").exists()


# Keys, scopes and bad input


def test_scopes(make_client, sink, clock, setup):
    body = {"step": 1, "to": TESTER}
    assert send_test(make_client(["campaigns:update"]), setup["campaign"], body).json()["sent"]
    with_lead = {**body, "lead_id": setup["lead"]}
    refused = send_test(make_client(["campaigns:update"]), setup["campaign"], with_lead)
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "Missing required scopes: leads:read",
        "required": ["campaigns:update", "leads:read"],
        "granted": ["campaigns:update"],
    }
    read_only = send_test(make_client(["campaigns:read", "leads:read"]), setup["campaign"], body)
    assert read_only.status_code == 403
    assert read_only.json()["required"] == ["campaigns:update"]
    allowed = send_test(make_client(["campaigns:all", "leads:read"]), setup["campaign"], with_lead)
    assert allowed.json() == {"sent": True, "error": None}


def test_another_workspaces_campaign_is_404(client_all, foreign_campaign):
    response = send_test(client_all, foreign_campaign.pk, {"step": 1, "to": TESTER})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"step": 1}, {"to": ["This field is required."]}),
        ({"step": 1, "to": "not-an-email"}, {"to": ["Enter a valid email address."]}),
        ({"step": 1, "to": 5}, {"to": ["Must be a string."]}),
        (
            {"step": 1, "to": f"{'a' * 65}@example.org"},
            {"to": ["Enter a valid email address: at most 64 characters before @."]},
        ),
        ({"step": 3, "to": TESTER}, {"step": ["Must be a step of this campaign: 1 to 2."]}),
        ({"step": 0, "to": TESTER}, {"step": ["Ensure this value is greater than or equal to 1."]}),
        ({"step": 1, "to": TESTER, "cc": TESTER}, {"cc": ["Unknown field."]}),
        (
            {
                "step": 4,
                "to": f"{'a' * 65}@example.org",
                "lead_id": "00000000-0000-0000-0000-000000000000",
            },
            {
                "step": ["Must be a step of this campaign: 1 to 2."],
                "to": ["Enter a valid email address: at most 64 characters before @."],
                "lead_id": ["No lead with this id in this campaign."],
            },
        ),
    ],
)
def test_bad_input_is_a_400(client_all, sink, clock, setup, body, errors):
    response = send_test(client_all, setup["campaign"], body)
    assert response.status_code == 400
    assert response.json() == errors
    assert sink.received == []


# At most two at once per workspace


@pytest.mark.django_db(transaction=True)
def test_at_most_two_checks_or_test_sends_at_once_per_workspace(
    client_all, make_client, sink, settings, other_workspace
):
    settings.CONNECTION_CHECK_SECONDS = 3
    with smtp_tarpit(interval=0.5, lifetime=60) as tarpit:
        slow = create_account(client_all, sink, port=tarpit.port)
        campaign = create_campaign(client_all, [slow], STEPS)
        healthy = create_account(client_all, sink, email="bob@sender.example")
        answers = []

        def test_send() -> None:
            started = time.monotonic()
            try:
                response = send_test(make_client(), campaign, {"step": 1, "to": TESTER})
                answers.append((response, time.monotonic() - started))
            finally:
                connections.close_all()  # this thread's connection

        threads = [threading.Thread(target=test_send) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert wait_for(lambda: tarpit.connections >= 2, timeout=5)
        third = send_test(client_all, campaign, {"step": 1, "to": TESTER})
        assert third.status_code == 429
        assert third.json() == {"detail": "Rate limit exceeded. Retry after 3 seconds."}
        assert third["Retry-After"] == "3"
        check = client_all.post(api_url(f"sender_accounts/{healthy}/check"))
        assert check.status_code == 429  # checks and test sends share the places
        # Another workspace is not held up.
        other = make_client(["*"], ws=other_workspace)
        mine = create_account(other, sink, email="carol@sender.example")
        theirs = create_campaign(other, [mine], STEPS)
        assert send_test(other, theirs, {"step": 1, "to": TESTER}).json()["sent"] is True
        for thread in threads:
            thread.join()
    for response, seconds in answers:
        assert response.status_code == 200
        body = response.json()
        assert body["sent"] is False
        assert "3 seconds" in body["error"], body
        assert seconds < 5  # the whole SMTP conversation within CONNECTION_CHECK_SECONDS
    assert sent_today(client_all, slow) == 0  # never connected: nothing attempted
    assert client_all.post(api_url(f"sender_accounts/{healthy}/check")).status_code == 200
