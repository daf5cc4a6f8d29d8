"""`POST sender_accounts/{id}/check` and recovery (API.md §7): connects now (SMTP login, IMAP too
if set), sends nothing, answers 200 whatever the outcome; a pass takes an account out of ERROR
and its waiting leads are due at once; a failed SMTP check puts an ACTIVE account in ERROR; a
DISABLED one stays DISABLED; an IMAP failure only shows. At most 2 at once per workspace."""

import threading
import time
from datetime import timedelta

import pytest

from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    PASSWORD,
    activate,
    add_lead,
    create_account,
    create_campaign,
    leads_of,
    run_engine,
)
from tests.hostile_servers import smtp_tarpit
from tests.imap_support import create_inbox_account
from tests.processes import start_worker, stop, wait_for
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

LEAD = "ann@example.com"


def check(client, account_id: str):
    return client.post(api_url(f"sender_accounts/{account_id}/check"))


def account_of(client, account_id: str) -> dict:
    return client.get(api_url(f"sender_accounts/{account_id}")).json()


def test_a_healthy_account_passes_and_nothing_is_sent(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    response = check(client_all, account_id)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ACTIVE",
        "last_error": "",
        "smtp": {"ok": True, "detail": "Connected and logged in."},
        "imap": None,
    }
    assert sink.login_attempts == 1
    assert sink.received == []


def test_a_failed_check_puts_an_active_account_in_error(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    sink.refuse_auth = True
    response = check(client_all, account_id)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ERROR",
        "last_error": "Authentication refused (535).",
        "smtp": {"ok": False, "detail": "Authentication refused (535)."},
        "imap": None,
    }
    assert account_of(client_all, account_id)["status"] == "ERROR"


def test_recovery_makes_waiting_leads_due_at_once(client_all, sink, clock):
    sink.refuse_auth = True
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    run_engine()
    assert account_of(client_all, account_id)["status"] == "ERROR"
    # The lead waits for the account's re-check (ACCOUNT_RECHECK_SECONDS = 300 here).
    clock.shift(timedelta(seconds=60))
    run_engine()
    assert leads_of(client_all, campaign_id)[LEAD]["next_send_at"] == "2026-03-04T12:05:00Z"

    sink.refuse_auth = False
    body = check(client_all, account_id).json()
    assert (body["status"], body["last_error"], body["smtp"]["ok"]) == ("ACTIVE", "", True)
    # No extra wait: due now, and sent by the next round.
    assert leads_of(client_all, campaign_id)[LEAD]["next_send_at"] == "2026-03-04T12:01:00Z"
    run_engine()
    assert [r.rcpt_tos for r in sink.received] == [[LEAD]]


def test_a_pass_ends_the_failures_in_a_row(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, LEAD)
    activate(client_all, campaign_id)
    sink.mail_answer = "451 4.3.0 Try later"
    for _ in range(2):
        run_engine()
        clock.shift(timedelta(seconds=10))
    assert check(client_all, account_id).json()["last_error"] == ""
    run_engine()  # a third failure, but the first in a row after the check
    assert account_of(client_all, account_id)["status"] == "ACTIVE"


def test_a_disabled_account_stays_disabled(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=account_id).update(status="DISABLED")
    assert check(client_all, account_id).json()["status"] == "DISABLED"
    sink.refuse_auth = True
    body = check(client_all, account_id).json()
    assert (body["status"], body["smtp"]["ok"]) == ("DISABLED", False)


def test_a_native_account_checks_the_services_outgoing_mail(client_all, clock):
    response = client_all.post(
        api_url("sender_accounts"), {"type": "NATIVE", "email": "me@ours.example"}, format="json"
    )
    body = check(client_all, response.json()["id"]).json()
    assert (body["status"], body["smtp"]["ok"], body["imap"]) == ("ACTIVE", True, None)


def test_an_inbox_is_checked_and_its_failure_only_shows(client_all, sink, dovecot, clock):
    account_id, _ = create_inbox_account(client_all, sink, dovecot)
    body = check(client_all, account_id).json()
    assert body["imap"] == {"ok": True, "detail": "Logged in."}
    account = SenderAccount.objects.get(pk=account_id)
    account.imap_password = "not-the-password"
    account.save(update_fields=["imap_password"])
    body = check(client_all, account_id).json()
    assert body["imap"] == {
        "ok": False,
        "detail": "The IMAP server refused the username or password.",
    }
    assert (body["status"], body["smtp"]["ok"]) == ("ACTIVE", True)


def test_a_check_gives_up_at_its_deadline(client_all, sink, settings):
    settings.CONNECTION_CHECK_SECONDS = 1.5
    with smtp_tarpit(interval=0.5, lifetime=60) as tarpit:
        account_id = create_account(client_all, sink, port=tarpit.port)
        started = time.monotonic()
        body = check(client_all, account_id).json()
        took = time.monotonic() - started
    assert took < 15  # the banner would have dripped for the tarpit's minute
    assert body["smtp"] == {
        "ok": False,
        "detail": "The server took over 1.5 seconds (the session deadline).",
    }
    assert body["status"] == "ERROR"


def test_scopes_and_workspaces(make_client, client_all, sink, other_workspace):
    account_id = create_account(client_all, sink)
    response = check(make_client(["sender_accounts:read"]), account_id)
    assert response.status_code == 403
    assert response.json()["required"] == ["sender_accounts:update"]
    assert check(make_client(["sender_accounts:all"]), account_id).status_code == 200
    assert check(make_client(["*"], ws=other_workspace), account_id).status_code == 404
    get = make_client(["*"]).get(api_url(f"sender_accounts/{account_id}/check"))
    assert get.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_at_most_two_checks_at_once_per_workspace(
    client_all, make_client, sink, settings, other_workspace
):
    settings.CONNECTION_CHECK_SECONDS = 3
    with smtp_tarpit(interval=0.5, lifetime=60) as tarpit:
        slow = [create_account(client_all, sink, port=tarpit.port) for _ in range(2)]
        healthy = create_account(client_all, sink)
        answers = []
        threads = [
            threading.Thread(target=lambda a=a: answers.append(check(make_client(), a)))
            for a in slow
        ]
        for thread in threads:
            thread.start()
        assert wait_for(lambda: tarpit.connections >= 2, timeout=5)
        third = check(client_all, healthy)
        assert third.status_code == 429
        assert third.json() == {"detail": "Rate limit exceeded. Retry after 3 seconds."}
        assert third["Retry-After"] == "3"
        # Another workspace is not held up.
        other = make_client(["*"], ws=other_workspace)
        other_account = create_account(other, sink, email="bob@sender.example")
        assert check(other, other_account).status_code == 200
        for thread in threads:
            thread.join()
    assert [a.status_code for a in answers] == [200, 200]
    assert check(client_all, healthy).status_code == 200  # the places are free again


@pytest.mark.django_db(transaction=True)
def test_from_error_to_the_first_mail_within_ten_seconds(client_all, sink):
    """End to end with a real worker: an account in ERROR, mended, checked: ACTIVE, and its
    waiting lead's message arrives within 10 seconds of the check."""
    sink.refuse_auth = True
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, LEAD)
    worker = start_worker(ACCOUNT_RECHECK_SECONDS="3600")
    try:
        activate(client_all, campaign_id)
        assert wait_for(lambda: account_of(client_all, account_id)["status"] == "ERROR", 30)
        sink.refuse_auth = False
        started = time.monotonic()
        assert check(client_all, account_id).json()["status"] == "ACTIVE"
        assert wait_for(lambda: len(sink.received) == 1, timeout=30)
        assert time.monotonic() - started < 10
    finally:
        assert stop([worker]) == [0]
    assert leads_of(client_all, campaign_id)[LEAD]["status"] == "COMPLETED"
    assert PASSWORD not in str(account_of(client_all, account_id))
