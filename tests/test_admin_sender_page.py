"""The sender-account page in the admin (API.md §7, §9): its stats, status, last_error and inbox
state; a "Check connection" button (the API's check, against a real SMTP server) whose outcome
shows as a message; and the API's PATCH rules as form errors: a changed server or username needs
the password again, ERROR is never a target, and an account in ERROR is made ACTIVE by a check."""

import re
from html import unescape

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from audit.models import AuditEvent
from inbound.models import InboxState
from sender_accounts import admin as sender_admin
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    PASSWORD,
    USERNAME,
    activate,
    add_lead,
    create_account,
    create_campaign,
    run_engine,
)
from workspaces import slots

pytestmark = pytest.mark.usefixtures("delivery_settings")

ADMIN = "/admin/sender_accounts/senderaccount/"
PASSWORD_AGAIN = "Enter the password again: a new server never gets the stored one."


def change_url(account_id) -> str:
    return f"{ADMIN}{account_id}/change/"


def check(client: Client, account_id):
    return client.post(f"{ADMIN}{account_id}/check/", follow=True)


def shown_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def stat(html: str, name: str) -> str:
    return re.search(rf'<dd data-stat="{name}">([^<]*)</dd>', html).group(1)


def form(account: SenderAccount, **changes) -> dict:
    """The change form as a browser posts it back untouched (the password blank), changed."""
    data = {
        "type": account.type,
        "email": account.email,
        "display_name": account.display_name,
        "daily_limit": str(account.daily_limit),
        "min_interval_seconds": str(account.min_interval_seconds),
        "max_interval_seconds": str(account.max_interval_seconds),
        "status": account.status,
        "smtp_host": account.smtp_host,
        "smtp_port": str(account.smtp_port or ""),
        "smtp_username": account.smtp_username,
        "smtp_password": "",
        "smtp_security": account.smtp_security,
    }
    data.update(changes)
    return data


# --- what the page shows -------------------------------------------------------------------


def test_the_page_shows_stats_status_and_last_error(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    add_lead(client_all, campaign_id, "ann@example.com")
    add_lead(client_all, campaign_id, "bob@example.com")
    sink.reject.add("bob@example.com")
    activate(client_all, campaign_id)
    run_engine()
    SenderAccount.objects.filter(pk=account_id).update(
        status="ERROR", last_error="Authentication refused (535)."
    )

    html = unescape(superuser_client.get(change_url(account_id)).content.decode())

    assert (stat(html, "sent_today"), stat(html, "sent_total"), stat(html, "bounced")) == (
        "2", "1", "1",
    )  # fmt: skip
    assert "Authentication refused (535)." in html
    assert re.search(r'<option value="ERROR" selected>Error \(the engine', html)
    assert "No inbox is read for this account" in html
    assert PASSWORD not in html
    assert '<button type="submit" data-action="check"' in html


def test_the_inbox_state_shows(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=account_id).update(
        imap_host="127.0.0.1", imap_port=1, imap_username="u", imap_security="NONE"
    )
    InboxState.objects.create(account_id=account_id, skipped=3, error="Login refused.")

    html = unescape(superuser_client.get(change_url(account_id)).content.decode())

    inbox = re.search(r'<table class="cs-table cs-inbox">.*?</table>', html, re.S).group(0)
    text = " ".join(re.sub(r"<[^>]+>", " ", inbox).split())
    assert "Last read not yet" in text
    assert "Messages skipped 3" in text
    assert "Last error Login refused." in text


# --- Check connection ----------------------------------------------------------------------


def test_check_connection_passes_against_a_real_server_and_sends_nothing(
    superuser_client, client_all, sink, clock
):
    account_id = create_account(client_all, sink)

    response = check(superuser_client, account_id)

    assert response.redirect_chain == [(change_url(account_id), 302)]
    assert shown_messages(response) == [
        ("success", "SMTP passed: Connected and logged in. Status: ACTIVE.")
    ]
    assert sink.login_attempts == 1
    assert sink.received == []


def test_a_check_brings_an_account_in_error_back(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=account_id).update(status="ERROR", last_error="Refused.")

    response = check(superuser_client, account_id)

    assert shown_messages(response) == [
        ("success", "SMTP passed: Connected and logged in. Status: ACTIVE.")
    ]
    account = SenderAccount.objects.get(pk=account_id)
    assert (account.status, account.last_error) == ("ACTIVE", "")
    assert '<option value="ERROR"' not in response.content.decode()


def test_a_failed_check_is_an_error_message(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    sink.refuse_auth = True

    response = check(superuser_client, account_id)

    assert shown_messages(response) == [
        ("error", "SMTP failed: Authentication refused (535). Status: ERROR.")
    ]
    html = unescape(response.content.decode())
    assert "Authentication refused (535)." in html.split('class="messagelist"')[1]
    assert SenderAccount.objects.get(pk=account_id).status == "ERROR"


def test_a_check_while_the_workspace_runs_its_limit_is_a_message(
    superuser_client, client_all, workspace, sink, clock
):
    account_id = create_account(client_all, sink)
    held = [
        slots.hold(workspace, "connection", limit=settings.CONNECTION_CHECKS_PER_WORKSPACE,
                   seconds=60)
        for _ in range(settings.CONNECTION_CHECKS_PER_WORKSPACE)
    ]  # fmt: skip
    for slot in held:
        slot.__enter__()
    try:
        response = check(superuser_client, account_id)
    finally:
        for slot in held:
            slot.__exit__(None, None, None)

    assert response.status_code == 200
    [(level, text)] = shown_messages(response)
    assert level == "warning"
    assert text.startswith("Two checks or test sends are already running in this workspace")
    assert sink.login_attempts == 0


def test_check_is_a_post_that_needs_the_change_permission(client_all, sink, clock):
    account_id = create_account(client_all, sink)
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_senderaccount"))
    client = Client()
    client.force_login(viewer)

    assert 'data-action="check"' not in client.get(change_url(account_id)).content.decode()
    assert client.get(f"{ADMIN}{account_id}/check/").status_code == 405
    assert client.post(f"{ADMIN}{account_id}/check/").status_code == 403
    assert sink.login_attempts == 0


# --- the API's PATCH rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"smtp_host": "localhost"}, {"smtp_port": "2525"}, {"smtp_security": "STARTTLS"},
     {"smtp_username": "someone-else"}],
)  # fmt: skip
def test_a_new_server_or_username_needs_the_password_again(
    superuser_client, client_all, sink, clock, change
):
    account_id = create_account(client_all, sink)
    account = SenderAccount.objects.get(pk=account_id)

    refused = superuser_client.post(change_url(account_id), form(account, **change))

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["smtp_password"] == [PASSWORD_AGAIN]
    stored = SenderAccount.objects.get(pk=account_id)
    assert (stored.smtp_host, stored.smtp_port, stored.smtp_username) == (
        "127.0.0.1", sink.port, USERNAME,
    )  # fmt: skip
    assert not AuditEvent.objects.filter(action="sender_account.updated").exists()

    saved = superuser_client.post(
        change_url(account_id), form(account, smtp_password="n3w-pass", **change)
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    stored = SenderAccount.objects.get(pk=account_id)
    assert stored.smtp_password == "n3w-pass"
    [event] = AuditEvent.objects.filter(action="sender_account.updated")
    assert "smtp_password" in event.extra["fields"]


def test_the_stored_password_stays_for_the_same_login_and_goes_with_a_relay(
    superuser_client, client_all, sink, clock
):
    account_id = create_account(client_all, sink)
    account = SenderAccount.objects.get(pk=account_id)

    kept = superuser_client.post(change_url(account_id), form(account, display_name="Renamed"))
    assert kept.status_code == 302
    assert SenderAccount.objects.get(pk=account_id).smtp_password == PASSWORD

    relay = superuser_client.post(
        change_url(account_id), form(account, smtp_host="localhost", smtp_username="")
    )
    assert relay.status_code == 302, relay.content.decode()[:2000]
    stored = SenderAccount.objects.get(pk=account_id)
    assert (stored.smtp_host, stored.smtp_username, stored.smtp_password) == ("localhost", "", "")


def test_error_is_never_a_target_and_active_from_error_is_refused(
    superuser_client, client_all, sink, clock
):
    account_id = create_account(client_all, sink)
    account = SenderAccount.objects.get(pk=account_id)
    page = superuser_client.get(change_url(account_id)).content.decode()
    status = re.search(r'<select name="status".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', status) == ["ACTIVE", "DISABLED"]
    assert (
        superuser_client.post(change_url(account_id), form(account, status="ERROR"))
        .context["adminform"]
        .form.errors["status"]
    )

    SenderAccount.objects.filter(pk=account_id).update(status="ERROR", last_error="Refused.")
    account.refresh_from_db()
    refused = superuser_client.post(change_url(account_id), form(account, status="ACTIVE"))
    assert refused.status_code == 200
    [error] = refused.context["adminform"].form.errors["status"]
    assert "use “Check connection”" in error
    assert SenderAccount.objects.get(pk=account_id).status == "ERROR"

    # Left in ERROR, the rest of the form saves.
    kept = superuser_client.post(change_url(account_id), form(account, display_name="Still"))
    assert kept.status_code == 302, kept.content.decode()[:2000]
    stored = SenderAccount.objects.get(pk=account_id)
    assert (stored.status, stored.display_name, stored.last_error) == ("ERROR", "Still", "Refused.")


def test_a_rule_broken_meanwhile_is_a_message_not_a_server_error(
    superuser_client, client_all, sink, clock, monkeypatch
):
    """The action checks again under the row lock: an account put in ERROR after the form was
    validated refuses ACTIVE, and the admin says so."""
    account_id = create_account(client_all, sink)
    SenderAccount.objects.filter(pk=account_id).update(status="DISABLED")
    account = SenderAccount.objects.get(pk=account_id)
    real = sender_admin.do_update_sender_account

    def error_meanwhile(*args, **kwargs):
        SenderAccount.objects.filter(pk=account_id).update(status="ERROR")
        return real(*args, **kwargs)

    monkeypatch.setattr(sender_admin, "do_update_sender_account", error_meanwhile)
    response = superuser_client.post(
        change_url(account_id), form(account, status="ACTIVE"), follow=True
    )

    assert response.status_code == 200
    [(level, text)] = shown_messages(response)
    assert level == "error"
    assert text.startswith("Nothing was saved: Cannot make a sender account in status ERROR")
