"""`PATCH sender_accounts/{id}` (API.md §4, §5): the fields sent change, `type` and `email` are
fixed; `smtp` and `imap` are replaced whole, and a left-out password keeps the stored one only
for the same host, port, security and username; `"imap": null` stops inbox reading; `status`
ACTIVE or DISABLED, ACTIVE on an account in ERROR a 409; the `sender_accounts:update` scope
(granted by `sender_accounts:all` and `*`); an audit row naming the changed fields; new limits,
gaps and statuses move the next sends at once. And SMTP without AUTH: no username and no
password, for a relay that takes none, created, changed and really sending."""

import json
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import Actor
from coldsend.core.clock import now
from coldsend.core.errors import Invalid
from delivery.actions import do_update_sender_account
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    ALWAYS,
    Handler,
    activate,
    add_lead,
    create_account,
    create_campaign,
    free_port,
    run_engine,
)
from tests.factories import make_sender, make_smtp_account
from tests.urls import api_url

URL = api_url("sender_accounts")
PASSWORD = "0ld pa55-Smtp!"  # inner space: stored verbatim
NEW_PASSWORD = "n3w pa55-Smtp!"
IMAP_PASSWORD = "imap pa55-w0rd"
SMTP_BLOCK = {
    "host": "smtp.example.com",
    "port": 587,
    "username": "sales@example.com",
    "password": PASSWORD,
    "security": "STARTTLS",
}
SMTP_BODY = {
    "type": "SMTP",
    "email": "sales@example.com",
    "display_name": "Sales",
    "daily_limit": 120,
    "smtp": SMTP_BLOCK,
}
# Test servers are on loopback and private addresses (SMTP_ALLOW_PRIVATE_HOSTS is on in tests);
# an IP literal resolves without DNS.
IMAP_BLOCK = {
    "host": "10.0.0.5",
    "port": 993,
    "username": "sales@example.com",
    "password": IMAP_PASSWORD,
    "security": "SSL",
}
PASSWORD_AGAIN = (
    "Required: the host, port, security or username changed, and a new server never gets the "
    "stored password. Send the password again."
)


def detail_url(pk) -> str:
    return f"{URL}/{pk}"


def create(client, body: dict = SMTP_BODY) -> str:
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def patch(client, pk, body):
    return client.patch(detail_url(pk), body, format="json")


def stored(pk) -> dict:
    """Every column of the account as stored, the passwords decrypted."""
    account = SenderAccount.objects.get(pk=pk)
    return {f.attname: getattr(account, f.attname) for f in SenderAccount._meta.concrete_fields}


def without(block: dict, *names: str) -> dict:
    return {k: v for k, v in block.items() if k not in names}


def assert_no_secret(response) -> None:
    for secret in (PASSWORD, NEW_PASSWORD, IMAP_PASSWORD):
        assert secret.encode() not in response.content


# --- each field ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "read_back"),
    [
        ({"display_name": "Sales Team"}, {"display_name": "Sales Team"}),
        ({"display_name": ""}, {"display_name": ""}),
        ({"daily_limit": 10000}, {"daily_limit": 10000}),
        ({"daily_limit": 1}, {"daily_limit": 1}),
        ({"min_interval_seconds": 0}, {"min_interval_seconds": 0}),
        ({"max_interval_seconds": 86400}, {"max_interval_seconds": 86400}),
        (
            {"min_interval_seconds": 60, "max_interval_seconds": 60},
            {"min_interval_seconds": 60, "max_interval_seconds": 60},
        ),
        ({"status": "DISABLED"}, {"status": "DISABLED"}),
        ({"status": "ACTIVE"}, {"status": "ACTIVE"}),
        (
            {"smtp": {**SMTP_BLOCK, "host": "mail.example.org", "port": 465, "security": "SSL"}},
            {"smtp": {"host": "mail.example.org", "port": 465, "username": "sales@example.com",
                      "security": "SSL"}},
        ),
        (
            {"imap": IMAP_BLOCK},
            {"imap": without(IMAP_BLOCK, "password"),
             "inbox": {"last_polled_at": None, "skipped": 0, "last_error": ""}},
        ),
        ({}, {}),
    ],
)  # fmt: skip
def test_each_field_is_updated_and_read_back(client_all, body, read_back):
    pk = create(client_all)
    before = client_all.get(detail_url(pk)).json()

    response = patch(client_all, pk, body)

    assert response.status_code == 200, response.content
    assert response.json() == {**before, **read_back}
    assert client_all.get(detail_url(pk)).json() == response.json()
    assert_no_secret(response)
    assert b"password" not in response.content


def test_several_fields_at_once_and_the_new_password_is_stored_encrypted(client_all):
    pk = create(client_all)
    body = {
        "display_name": "Renamed",
        "daily_limit": 300,
        "min_interval_seconds": 10,
        "max_interval_seconds": 20,
        "smtp": {**SMTP_BLOCK, "username": "other@example.com", "password": NEW_PASSWORD},
        "imap": IMAP_BLOCK,
    }

    response = patch(client_all, pk, body)

    assert response.status_code == 200, response.content
    row = stored(pk)
    assert (row["display_name"], row["daily_limit"]) == ("Renamed", 300)
    assert (row["min_interval_seconds"], row["max_interval_seconds"]) == (10, 20)
    assert (row["smtp_username"], row["smtp_password"]) == ("other@example.com", NEW_PASSWORD)
    assert (row["imap_host"], row["imap_password"]) == ("10.0.0.5", IMAP_PASSWORD)
    assert_no_secret(response)


# --- what cannot change, and bad input -----------------------------------------------------


def test_type_and_email_are_fixed(client_all):
    pk = create(client_all)
    before = stored(pk)

    response = patch(client_all, pk, {"type": "NATIVE", "email": "x@example.com"})

    assert response.status_code == 400
    assert response.json() == {"type": ["Cannot be changed."], "email": ["Cannot be changed."]}
    assert stored(pk) == before


def test_the_same_type_or_email_sent_back_is_refused_too(client_all):
    pk = create(client_all)
    response = patch(client_all, pk, {"email": "sales@example.com", "display_name": "X"})
    assert response.status_code == 400
    assert response.json() == {"email": ["Cannot be changed."]}
    assert stored(pk)["display_name"] == "Sales"


INVALID = {
    "unknown field": ({"nickname": "x"}, {"nickname": ["Unknown field."]}),
    "read-only id": ({"id": "x"}, {"id": ["This field is read-only."]}),
    "read-only last_error": ({"last_error": ""}, {"last_error": ["This field is read-only."]}),
    "unknown field in smtp": (
        {"smtp": {**SMTP_BLOCK, "tls": True}},
        {"smtp": {"tls": ["Unknown field."]}},
    ),
    "display_name with CR LF": ({"display_name": "A\r\nBcc: x@example.com"}, "display_name"),
    "display_name with LF": ({"display_name": "A\nB"}, "display_name"),
    "display_name too long": ({"display_name": "x" * 201}, "display_name"),
    "daily_limit 0": ({"daily_limit": 0}, "daily_limit"),
    "daily_limit 10001": ({"daily_limit": 10001}, "daily_limit"),
    "daily_limit a string": ({"daily_limit": "5"}, "daily_limit"),
    "min_interval_seconds -1": ({"min_interval_seconds": -1}, "min_interval_seconds"),
    "max_interval_seconds 86401": ({"max_interval_seconds": 86401}, "max_interval_seconds"),
    "min over max": (
        {"min_interval_seconds": 100, "max_interval_seconds": 99},
        {"max_interval_seconds": ["Must be at least min_interval_seconds."]},
    ),
    "max under the stored min (180)": (
        {"max_interval_seconds": 179},
        {"max_interval_seconds": ["Must be at least min_interval_seconds."]},
    ),
    "min over the stored max (300)": (
        {"min_interval_seconds": 301},
        {"min_interval_seconds": ["Must be at most max_interval_seconds (300)."]},
    ),
    "status ERROR": ({"status": "ERROR"}, "status"),
    "status lower case": ({"status": "active"}, "status"),
    "status null": ({"status": None}, "status"),
    "smtp null": ({"smtp": None}, {"smtp": ["Required for SMTP sender accounts."]}),
    "smtp empty": ({"smtp": {}}, "smtp.host"),
    "smtp without host": ({"smtp": without(SMTP_BLOCK, "host")}, "smtp.host"),
    "smtp without port": ({"smtp": without(SMTP_BLOCK, "port")}, "smtp.port"),
    "smtp port 0": ({"smtp": {**SMTP_BLOCK, "port": 0}}, "smtp.port"),
    "smtp host with scheme": ({"smtp": {**SMTP_BLOCK, "host": "smtp://x.io"}}, "smtp.host"),
    "smtp bad security": ({"smtp": {**SMTP_BLOCK, "security": "TLS"}}, "smtp.security"),
    "smtp empty password": ({"smtp": {**SMTP_BLOCK, "password": ""}}, "smtp.password"),
    "smtp password without username": (
        {"smtp": without(SMTP_BLOCK, "username")},
        {"smtp": {"username": [
            "Required with a password (leave both out for a server that takes no AUTH)."
        ]}},
    ),
    "smtp new host, no password": (
        {"smtp": without({**SMTP_BLOCK, "host": "mail.example.org"}, "password")},
        {"smtp": {"password": [PASSWORD_AGAIN]}},
    ),
    "imap without password (none stored)": (
        {"imap": without(IMAP_BLOCK, "password")},
        {"imap": {"password": [PASSWORD_AGAIN]}},
    ),
    "imap without username": ({"imap": without(IMAP_BLOCK, "username")}, "imap.username"),
    "not an object": (["display_name"], "non_field_errors"),
}  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid_input_is_400_and_changes_nothing(client_all, body, expected):
    pk = create(client_all)
    before = stored(pk)

    response = patch(client_all, pk, body)

    assert response.status_code == 400, response.content
    errors = response.json()
    if isinstance(expected, dict):
        assert errors == expected
    else:  # "a.b": a message list under errors[a][b], and nothing else in the answer
        path = expected.split(".")
        assert list(errors) == [path[0]]
        node = errors
        for key in path:
            node = node[key]
        assert isinstance(node, list)
        assert node
        assert all(isinstance(message, str) and message for message in node)
    assert stored(pk) == before
    assert not AuditEvent.objects.filter(action="sender_account.updated").exists()
    assert_no_secret(response)


def test_several_errors_are_reported_together(client_all):
    pk = create(client_all)
    response = patch(client_all, pk, {"daily_limit": 0, "type": "NATIVE", "bogus": 1})
    assert response.status_code == 400
    assert set(response.json()) == {"daily_limit", "type", "bogus"}


def test_a_body_that_is_not_json_is_refused(client_all):
    pk = create(client_all)
    response = client_all.patch(detail_url(pk), {"display_name": "x"}, format="multipart")
    assert response.status_code == 415
    assert stored(pk)["display_name"] == "Sales"


# --- smtp and imap: replaced whole, the password kept only for the same server --------------


def test_a_left_out_password_is_kept_when_only_the_display_name_changes(client_all):
    pk = create(client_all)
    assert patch(client_all, pk, {"display_name": "Renamed"}).status_code == 200
    assert SenderAccount.objects.get(pk=pk).smtp_password == PASSWORD


def test_a_left_out_password_is_kept_for_the_same_server_and_username(client_all):
    pk = create(client_all)
    response = patch(client_all, pk, {"smtp": without(SMTP_BLOCK, "password")})
    assert response.status_code == 200, response.content
    assert SenderAccount.objects.get(pk=pk).smtp_password == PASSWORD
    # The block is replaced whole: security left out takes its default, STARTTLS, the same here.
    response = patch(client_all, pk, {"smtp": without(SMTP_BLOCK, "password", "security")})
    assert response.status_code == 200, response.content
    assert SenderAccount.objects.get(pk=pk).smtp_password == PASSWORD


@pytest.mark.parametrize(
    "change",
    [
        {"host": "mail.example.org"},
        {"port": 465},
        {"security": "SSL"},
        {"security": "NONE"},
        {"username": "other@example.com"},
    ],
)
def test_a_new_server_or_username_needs_the_password_again(client_all, change):
    pk = create(client_all)
    before = stored(pk)
    block = {**without(SMTP_BLOCK, "password"), **change}

    refused = patch(client_all, pk, {"smtp": block, "display_name": "Renamed"})

    assert refused.status_code == 400
    assert refused.json() == {"smtp": {"password": [PASSWORD_AGAIN]}}
    assert stored(pk) == before

    accepted = patch(client_all, pk, {"smtp": {**block, "password": NEW_PASSWORD}})
    assert accepted.status_code == 200, accepted.content
    row = stored(pk)
    assert row["smtp_password"] == NEW_PASSWORD
    for name, value in change.items():
        assert row[f"smtp_{name}"] == value


def test_security_left_out_on_an_ssl_server_is_a_change(client_all):
    pk = create(client_all, {**SMTP_BODY, "smtp": {**SMTP_BLOCK, "security": "SSL"}})
    response = patch(client_all, pk, {"smtp": without(SMTP_BLOCK, "password", "security")})
    assert response.status_code == 400
    assert response.json() == {"smtp": {"password": [PASSWORD_AGAIN]}}


def test_imap_is_added_kept_changed_and_removed(client_all):
    pk = create(client_all)

    added = patch(client_all, pk, {"imap": IMAP_BLOCK})
    assert added.status_code == 200, added.content
    assert added.json()["imap"] == without(IMAP_BLOCK, "password")

    kept = patch(client_all, pk, {"imap": without(IMAP_BLOCK, "password")})
    assert kept.status_code == 200, kept.content
    assert SenderAccount.objects.get(pk=pk).imap_password == IMAP_PASSWORD

    moved = patch(client_all, pk, {"imap": {**without(IMAP_BLOCK, "password"), "port": 143}})
    assert moved.status_code == 400
    assert moved.json() == {"imap": {"password": [PASSWORD_AGAIN]}}

    removed = patch(client_all, pk, {"imap": None})
    assert removed.status_code == 200, removed.content
    assert (removed.json()["imap"], removed.json()["inbox"]) == (None, None)
    row = stored(pk)
    assert (row["imap_host"], row["imap_port"], row["imap_username"]) == ("", None, "")
    assert (row["imap_password"], row["imap_security"]) == ("", "")
    assert row["smtp_password"] == PASSWORD  # smtp untouched

    # Added again after removal: a new server, so the password is needed again.
    again = patch(client_all, pk, {"imap": without(IMAP_BLOCK, "password")})
    assert again.status_code == 400
    assert again.json() == {"imap": {"password": [PASSWORD_AGAIN]}}
    assert patch(client_all, pk, {"imap": None}).status_code == 200  # already none: fine


@pytest.mark.usefixtures("private_hosts_refused")
@pytest.mark.parametrize(("block", "host"), [("smtp", "127.0.0.1"), ("imap", "192.168.1.1")])
def test_a_private_host_is_refused_on_patch_too(client_all, block, host):
    pk = create(client_all, {**SMTP_BODY, "smtp": {**SMTP_BLOCK, "host": "8.8.8.8"}})
    before = stored(pk)
    base = SMTP_BLOCK if block == "smtp" else IMAP_BLOCK

    response = patch(client_all, pk, {block: {**base, "host": host}})

    assert response.status_code == 400
    assert list(response.json()) == [block]
    assert "not a public address" in response.json()[block]["host"][0]
    assert stored(pk) == before


@pytest.fixture
def private_hosts_refused(settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = False


def test_a_native_account_refuses_smtp_and_imap(client_all, workspace):
    account = make_sender(workspace, display_name="Native")
    pk = account.pk
    before = stored(pk)

    refused = patch(client_all, pk, {"smtp": SMTP_BLOCK, "imap": IMAP_BLOCK})

    assert refused.status_code == 400
    assert refused.json() == {
        "smtp": ["Not allowed for NATIVE sender accounts."],
        "imap": ["Only SMTP sender accounts have an inbox to read."],
    }
    assert stored(pk) == before
    assert patch(client_all, pk, {"smtp": {}}).json() == {
        "smtp": ["Not allowed for NATIVE sender accounts."]
    }
    # null is what a NATIVE account reads: sending it back changes nothing.
    accepted = patch(client_all, pk, {"smtp": None, "imap": None, "display_name": "Renamed"})
    assert accepted.status_code == 200, accepted.content
    assert (accepted.json()["smtp"], accepted.json()["display_name"]) == (None, "Renamed")


# --- status --------------------------------------------------------------------------------


def test_status_disabled_and_back(client_all):
    pk = create(client_all)
    for status in ("DISABLED", "DISABLED", "ACTIVE", "ACTIVE"):
        response = patch(client_all, pk, {"status": status})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        assert stored(pk)["status"] == status


def test_active_on_an_account_in_error_is_409(client_all):
    pk = create(client_all)
    SenderAccount.objects.filter(pk=pk).update(status="ERROR", last_error="SMTP login refused.")
    before = stored(pk)

    response = patch(client_all, pk, {"status": "ACTIVE", "display_name": "Renamed"})

    assert response.status_code == 409
    body = response.json()
    assert body == {
        "detail": body["detail"],
        "code": "invalid_state",
        "status": "ERROR",
        "allowed": ["ACTIVE", "DISABLED"],
    }
    assert "ERROR" in body["detail"]
    assert stored(pk) == before  # nothing of the request is saved
    assert not AuditEvent.objects.filter(action="sender_account.updated").exists()


def test_an_account_in_error_may_be_disabled_and_changed(client_all):
    pk = create(client_all)
    SenderAccount.objects.filter(pk=pk).update(status="ERROR", last_error="SMTP login refused.")

    renamed = patch(client_all, pk, {"display_name": "Renamed"})
    assert renamed.status_code == 200
    assert (renamed.json()["status"], renamed.json()["last_error"]) == (
        "ERROR", "SMTP login refused.",
    )  # fmt: skip

    disabled = patch(client_all, pk, {"status": "DISABLED"})
    assert disabled.status_code == 200
    assert (disabled.json()["status"], disabled.json()["last_error"]) == ("DISABLED", "")


def test_validation_comes_before_the_state_rule(client_all):
    pk = create(client_all)
    SenderAccount.objects.filter(pk=pk).update(status="ERROR")
    response = patch(client_all, pk, {"status": "ACTIVE", "daily_limit": 0})
    assert response.status_code == 400
    assert list(response.json()) == ["daily_limit"]


# --- keys, workspaces, methods --------------------------------------------------------------

SENDER_SCOPES = [
    "sender_accounts:create",
    "sender_accounts:read",
    "sender_accounts:update",
    "sender_accounts:delete",
]


def test_patch_needs_sender_accounts_update(make_client, workspace):
    account = make_sender(workspace, display_name="Before")
    others = [s for s in SENDER_SCOPES if s != "sender_accounts:update"] + ["campaigns:all"]

    denied = patch(make_client(others), account.pk, {"display_name": "After"})

    assert denied.status_code == 403
    assert denied.json() == {
        "detail": "Missing required scopes: sender_accounts:update",
        "required": ["sender_accounts:update"],
        "granted": sorted(others),
    }
    account.refresh_from_db()
    assert account.display_name == "Before"
    for granted in ("sender_accounts:update", "sender_accounts:all", "*"):
        allowed = patch(make_client([granted]), account.pk, {"display_name": granted})
        assert allowed.status_code == 200, (granted, allowed.content)
        account.refresh_from_db()
        assert account.display_name == granted


def test_401_then_403_then_404_then_400(make_client, workspace, other_workspace):
    theirs = make_smtp_account(other_workspace, PASSWORD)
    mine = make_sender(workspace)
    bad = {"daily_limit": 0, "type": "SMTP"}

    assert APIClient().patch(detail_url(mine.pk), bad, format="json").status_code == 401
    assert patch(make_client(["sender_accounts:read"]), theirs.pk, bad).status_code == 403
    for pk in (theirs.pk, "01a2514b-f7a8-7233-825d-0d2cdbb9ca86", "nope"):
        response = patch(make_client(["*"]), pk, bad)
        assert response.status_code == 404, pk
        assert response.json() == {"detail": "Not found."}
    assert patch(make_client(["*"]), mine.pk, bad).status_code == 400
    assert SenderAccount.objects.get(pk=theirs.pk).daily_limit == 50


def test_another_workspaces_account_is_404_and_unchanged(make_client, workspace, other_workspace):
    theirs = make_smtp_account(other_workspace, PASSWORD, display_name="Theirs")
    response = patch(make_client(["sender_accounts:all"]), theirs.pk, {"display_name": "Mine"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.display_name == "Theirs"


def test_put_stays_405(client_all):
    pk = create(client_all)
    response = client_all.put(detail_url(pk), SMTP_BODY, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert "PATCH" in response["Allow"]
    assert "PUT" not in response["Allow"]


# --- the audit trail -----------------------------------------------------------------------


def test_an_update_writes_one_audit_row_naming_the_changed_fields(make_key, workspace):
    key, raw = make_key(["sender_accounts:all"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    pk = create(client)
    body = {
        "display_name": "Renamed",
        "daily_limit": 120,  # as it was: not named
        "smtp": {**SMTP_BLOCK, "port": 465, "password": NEW_PASSWORD},
    }

    assert patch(client, pk, body).status_code == 200
    assert patch(client, pk, body).status_code == 200  # the same again: nothing changes

    rows = AuditEvent.objects.filter(action="sender_account.updated")
    assert [(r.actor_type, r.actor, r.object_type, r.object_id) for r in rows] == [
        ("api_key", key.prefix, "senderaccount", str(pk))
    ]
    assert rows[0].extra == {"fields": ["display_name", "smtp_password", "smtp_port"]}
    assert rows[0].workspace_id == workspace.pk
    dumped = json.dumps([r.extra for r in AuditEvent.objects.all()])
    assert PASSWORD not in dumped
    assert NEW_PASSWORD not in dumped


def test_the_same_password_sent_again_is_no_change(client_all):
    pk = create(client_all)
    assert patch(client_all, pk, {"smtp": SMTP_BLOCK}).status_code == 200
    assert not AuditEvent.objects.filter(action="sender_account.updated").exists()


# --- SMTP without AUTH ---------------------------------------------------------------------

NO_AUTH_BLOCK = {"host": "relay.example.com", "port": 25, "security": "NONE"}


@pytest.mark.parametrize(
    "block", [NO_AUTH_BLOCK, {**NO_AUTH_BLOCK, "username": ""}, {**NO_AUTH_BLOCK, "username": " "}]
)
def test_an_smtp_account_without_username_and_password_is_created(client_all, block):
    response = client_all.post(URL, {**SMTP_BODY, "smtp": block}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["smtp"] == {**NO_AUTH_BLOCK, "username": ""}
    row = stored(response.json()["id"])
    assert (row["smtp_username"], row["smtp_password"]) == ("", "")


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {**NO_AUTH_BLOCK, "username": "relay"},
            {"password": ["Required with a username (leave both out for a server that takes "
                          "no AUTH)."]},
        ),
        (
            {**NO_AUTH_BLOCK, "password": PASSWORD},
            {"username": ["Required with a password (leave both out for a server that takes "
                          "no AUTH)."]},
        ),
        (
            {**NO_AUTH_BLOCK, "username": "", "password": PASSWORD},
            {"username": ["Required with a password (leave both out for a server that takes "
                          "no AUTH)."]},
        ),
    ],
)  # fmt: skip
def test_username_and_password_come_both_or_neither(client_all, block, expected):
    response = client_all.post(URL, {**SMTP_BODY, "smtp": block}, format="json")
    assert response.status_code == 400
    assert response.json() == {"smtp": expected}
    assert not SenderAccount.objects.exists()


def test_an_account_without_auth_is_patched(client_all):
    pk = create(client_all, {**SMTP_BODY, "smtp": NO_AUTH_BLOCK})

    renamed = patch(
        client_all, pk, {"display_name": "Relay", "smtp": {**NO_AUTH_BLOCK, "port": 2525}}
    )
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["smtp"] == {**NO_AUTH_BLOCK, "port": 2525, "username": ""}

    # A login added needs its password: there is no stored one to keep.
    refused = patch(client_all, pk, {"smtp": {**NO_AUTH_BLOCK, "username": "relay"}})
    assert refused.status_code == 400
    assert refused.json() == {"smtp": {"password": [PASSWORD_AGAIN]}}
    only_password = patch(client_all, pk, {"smtp": {**NO_AUTH_BLOCK, "password": PASSWORD}})
    assert only_password.status_code == 400
    assert list(only_password.json()["smtp"]) == ["username"]

    login = {**NO_AUTH_BLOCK, "username": "relay", "password": NEW_PASSWORD}
    assert patch(client_all, pk, {"smtp": login}).status_code == 200
    assert (stored(pk)["smtp_username"], stored(pk)["smtp_password"]) == ("relay", NEW_PASSWORD)


def test_an_account_with_auth_becomes_one_without_and_forgets_its_password(client_all):
    pk = create(client_all)
    response = patch(client_all, pk, {"smtp": {**SMTP_BLOCK, "username": "", "password": None}})
    assert response.status_code == 400  # a null password is not "left out"

    response = patch(client_all, pk, {"smtp": without(SMTP_BLOCK, "username", "password")})

    assert response.status_code == 200, response.content
    assert response.json()["smtp"]["username"] == ""
    assert (stored(pk)["smtp_username"], stored(pk)["smtp_password"]) == ("", "")
    fields = AuditEvent.objects.get(action="sender_account.updated").extra["fields"]
    assert fields == ["smtp_password", "smtp_username"]


@pytest.fixture
def relay():
    """An SMTP server that offers no AUTH at all (no authenticator), like an internal relay."""
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.mark.usefixtures("delivery_settings", "clock")
def test_a_relay_without_auth_really_receives_the_message(client_all, relay):
    account = _create_relay_account(client_all, relay.port)
    campaign = create_campaign(client_all, [account])
    add_lead(client_all, campaign, "ann@example.com", first_name="Ann")
    activate(client_all, campaign)

    assert run_engine() == 1

    received = relay.handler.to("ann@example.com")
    assert len(received) == 1
    assert received[0].mail_from == "relay@sender.example"
    assert "Hello Ann" in received[0].message["Subject"]
    assert SenderAccount.objects.get(pk=account).status == "ACTIVE"
    assert Lead.objects.get().status == "COMPLETED"  # its one step sent


@pytest.mark.usefixtures("delivery_settings", "clock")
def test_no_login_is_attempted_on_a_server_that_offers_auth(client_all, sink):
    account = _create_relay_account(client_all, sink.port)
    campaign = create_campaign(client_all, [account])
    add_lead(client_all, campaign, "ann@example.com")
    activate(client_all, campaign)

    assert run_engine() == 1

    assert len(sink.to("ann@example.com")) == 1
    assert sink.login_attempts == 0


def _create_relay_account(client, port: int) -> str:
    block = {"host": "127.0.0.1", "port": port, "security": "NONE"}
    body = {"type": "SMTP", "email": "relay@sender.example", "display_name": "Relay", "smtp": block}
    pk = create(client, body)
    assert (
        patch(client, pk, {"min_interval_seconds": 0, "max_interval_seconds": 0}).status_code == 200
    )
    return pk


# --- new limits move the next sends at once ------------------------------------------------


def lead_next_send_at(client, lead_id: str) -> str | None:
    response = client.get(api_url(f"leads/{lead_id}"))
    assert response.status_code == 200
    return response.json()["next_send_at"]


def iso(instant) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def waiting(leads: dict[str, str], sink) -> str:
    """The id of the one lead of `leads` (email → id) not sent to yet: two leads added in the
    same frozen instant are due together, in no set order."""
    unsent = [lead for email, lead in leads.items() if not sink.to(email)]
    assert len(unsent) == 1, unsent
    return unsent[0]


@pytest.mark.usefixtures("delivery_settings")
def test_a_smaller_gap_moves_the_waiting_lead_to_now(client_all, sink, clock):
    account = create_account(client_all, sink, gap=300)
    campaign = create_campaign(client_all, [account], schedule=ALWAYS)
    leads = {e: add_lead(client_all, campaign, e) for e in ("first@example.com", "b@example.com")}
    activate(client_all, campaign)
    assert run_engine() == 1
    second = waiting(leads, sink)
    assert lead_next_send_at(client_all, second) == iso(now() + timedelta(seconds=300))
    clock.shift(timedelta(seconds=10))

    response = patch(client_all, account, {"min_interval_seconds": 0, "max_interval_seconds": 0})

    assert response.status_code == 200
    assert lead_next_send_at(client_all, second) == iso(now())
    assert SenderAccount.objects.get(pk=account).next_available_at is None
    assert run_engine() == 1
    assert len(sink.received) == 2


@pytest.mark.usefixtures("delivery_settings")
def test_a_higher_daily_limit_moves_the_waiting_lead_to_now(client_all, sink, clock):
    account = create_account(client_all, sink, daily_limit=1)
    campaign = create_campaign(client_all, [account], schedule=ALWAYS)
    leads = {e: add_lead(client_all, campaign, e) for e in ("first@example.com", "b@example.com")}
    activate(client_all, campaign)
    assert run_engine() == 1
    second = waiting(leads, sink)
    assert lead_next_send_at(client_all, second) == iso(now() + timedelta(hours=24))
    clock.shift(timedelta(minutes=5))

    assert patch(client_all, account, {"daily_limit": 2}).status_code == 200

    assert lead_next_send_at(client_all, second) == iso(now())
    assert run_engine() == 1
    assert len(sink.received) == 2


@pytest.mark.usefixtures("delivery_settings")
def test_an_account_disabled_sends_nothing_and_active_again_makes_its_leads_due(
    client_all, sink, clock
):
    account = create_account(client_all, sink)
    campaign = create_campaign(client_all, [account], schedule=ALWAYS)
    lead = add_lead(client_all, campaign, "ann@example.com")
    assert patch(client_all, account, {"status": "DISABLED"}).status_code == 200
    activate(client_all, campaign)
    assert run_engine() == 0
    clock.shift(timedelta(hours=2))
    assert sink.received == []

    assert patch(client_all, account, {"status": "ACTIVE"}).status_code == 200

    assert lead_next_send_at(client_all, lead) == iso(now())
    assert run_engine() == 1
    assert len(sink.to("ann@example.com")) == 1


@pytest.mark.usefixtures("delivery_settings")
def test_other_changes_leave_the_schedule_alone(client_all, sink, clock):
    account = create_account(client_all, sink, gap=300)
    campaign = create_campaign(client_all, [account], schedule=ALWAYS)
    add_lead(client_all, campaign, "first@example.com")
    second = add_lead(client_all, campaign, "second@example.com")
    activate(client_all, campaign)
    run_engine()
    waiting = lead_next_send_at(client_all, second)
    clock.shift(timedelta(seconds=10))

    assert patch(client_all, account, {"display_name": "Renamed"}).status_code == 200

    assert lead_next_send_at(client_all, second) == waiting
    assert SenderAccount.objects.get(pk=account).next_available_at is not None


# --- the admin saves through the same action -------------------------------------------------

ADMIN = "/admin/sender_accounts/senderaccount/"


def admin_form(account: SenderAccount, **changes) -> dict:
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


def test_the_admin_change_form_writes_through_the_action(superuser_client, client_all):
    pk = create(client_all)
    account = SenderAccount.objects.get(pk=pk)

    response = superuser_client.post(
        f"{ADMIN}{pk}/change/", admin_form(account, display_name="From the admin", daily_limit="7")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    row = stored(pk)
    assert (row["display_name"], row["daily_limit"], row["smtp_password"]) == (
        "From the admin", 7, PASSWORD,
    )  # fmt: skip
    event = AuditEvent.objects.get(action="sender_account.updated")
    assert (event.actor_type, event.actor) == ("admin_user", "root")
    assert event.extra == {"fields": ["daily_limit", "display_name"]}


def test_the_admin_edits_an_account_without_auth_and_keeps_the_error_rule(
    superuser_client, client_all
):
    """As the API: ACTIVE on an account in ERROR is refused (a check ends ERROR); DISABLED is
    taken and clears last_error."""
    pk = create(client_all, {**SMTP_BODY, "smtp": NO_AUTH_BLOCK})
    SenderAccount.objects.filter(pk=pk).update(status="ERROR", last_error="Connection refused.")
    account = SenderAccount.objects.get(pk=pk)

    refused = superuser_client.post(
        f"{ADMIN}{pk}/change/", admin_form(account, display_name="Relay", status="ACTIVE")
    )
    assert refused.status_code == 200
    assert "use “Check connection”" in refused.context["adminform"].form.errors["status"][0]
    assert (stored(pk)["status"], stored(pk)["display_name"]) == ("ERROR", "Sales")

    response = superuser_client.post(
        f"{ADMIN}{pk}/change/", admin_form(account, display_name="Relay", status="DISABLED")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    row = stored(pk)
    assert (row["display_name"], row["status"], row["last_error"]) == ("Relay", "DISABLED", "")
    assert (row["smtp_username"], row["smtp_password"]) == ("", "")


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_documents_patch(client_all):
    document = client_all.get(api_url("schema")).json()
    operation = document["paths"]["/api/public/v1/sender_accounts/{id}/"]["patch"]
    assert "Required scope: `sender_accounts:update`." in operation["description"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    assert "put" not in document["paths"]["/api/public/v1/sender_accounts/{id}/"]
    schemas = document["components"]["schemas"]
    request = schemas["PatchedSenderAccountUpdateRequest"]
    assert request["additionalProperties"] is False
    assert "type" not in request["properties"]
    assert "email" not in request["properties"]
    assert schemas["SenderAccountSettableStatus"]["enum"] == ["ACTIVE", "DISABLED"]
    for name in ("SMTPSettingsRequest", "SMTPSettingsUpdateRequest"):
        block = schemas[name]
        assert "username" not in block["required"]
        assert "password" not in block["required"]
        assert len(block["anyOf"]) == 2  # username and password both or neither
        assert "no AUTH" in block["properties"]["username"]["description"]


def test_a_patched_account_copies_nothing_of_the_request_into_other_accounts(client_all):
    first, second = create(client_all), create(client_all, {**SMTP_BODY, "email": "b@example.com"})
    before = stored(second)
    assert (
        patch(client_all, first, {"display_name": "Only me", "daily_limit": 9}).status_code == 200
    )
    assert stored(second) == before


# --- the action, for what HTTP cannot time -------------------------------------------------


def test_the_action_refuses_a_login_moved_meanwhile_without_its_password(client_all, workspace):
    """The API validates a left-out password against the account it read; the action checks it
    again under the row lock, so a server changed meanwhile never gets the stored password."""
    pk = create(client_all)
    account = SenderAccount.objects.get(pk=pk)
    SenderAccount.objects.filter(pk=pk).update(smtp_host="moved.example.com")  # meanwhile
    stale = {"smtp_host": "smtp.example.com", "smtp_port": 587, "smtp_security": "STARTTLS",
             "smtp_username": "sales@example.com"}  # fmt: skip
    actor = Actor.command("test")

    with pytest.raises(Invalid) as refused:
        do_update_sender_account(account, stale, actor=actor)
    assert list(refused.value.errors) == ["smtp"]
    assert stored(pk)["smtp_host"] == "moved.example.com"
    with pytest.raises(ValueError, match="last_error"):
        do_update_sender_account(account, {"last_error": ""}, actor=actor)
