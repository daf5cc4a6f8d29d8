"""Sender accounts over the API (API.md §4, §5): create, validation, the object's shape, the
password never returned, isolation between workspaces, lists, stats, and no PUT (405; PATCH is
tests/test_sender_account_update.py)."""

import copy
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.factories import campaign_using, make_sender, make_smtp_account
from tests.urls import api_url

URL = api_url("sender_accounts")
PASSWORD = "pa55 w0rd-Sm7p!"  # inner space: passwords are stored verbatim
SMTP_BLOCK = {
    "host": "smtp.example.com",
    "port": 465,
    "username": "sales@example.com",
    "password": PASSWORD,
    "security": "SSL",
}
SMTP_BODY = {
    "type": "SMTP",
    "email": "Sales@Example.COM",
    "display_name": "Sales Team",
    "daily_limit": 120,
    "smtp": SMTP_BLOCK,
}
NATIVE_BODY = {"type": "NATIVE", "email": "hello@example.com"}


def detail_url(pk) -> str:
    return f"{URL}/{pk}"


def with_changes(body: dict, **changes) -> dict:
    """A copy of `body`; `smtp__port=0` changes the nested block, a value of ... removes a key."""
    body = copy.deepcopy(body)
    for key, value in changes.items():
        target, name = body, key
        if key.startswith("smtp__"):
            target, name = body["smtp"], key.removeprefix("smtp__")
        if value is ...:
            target.pop(name, None)
        else:
            target[name] = value
    return body


# --- create --------------------------------------------------------------------------------


def test_create_native_with_defaults(client_all, workspace):
    response = client_all.post(URL, {"type": "NATIVE", "email": " Hello@Example.COM "})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id", "type", "email", "display_name", "daily_limit", "min_interval_seconds",
        "max_interval_seconds", "smtp", "imap", "status", "last_error", "created_at", "stats",
        "inbox",
    }  # fmt: skip
    assert uuid.UUID(body["id"]).version == 7
    assert body["type"] == "NATIVE"
    assert body["email"] == "hello@example.com"
    assert body["display_name"] == ""
    assert body["daily_limit"] == 50
    assert body["smtp"] is None
    assert body["status"] == "ACTIVE"
    assert body["stats"] == {"sent_today": 0, "sent_total": 0, "bounced": 0}
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert abs(created - timezone.now()) < timedelta(minutes=1)

    stored = SenderAccount.objects.get(pk=body["id"])
    assert stored.workspace == workspace
    assert stored.email == "hello@example.com"
    assert stored.daily_limit == 50
    assert (stored.smtp_host, stored.smtp_port, stored.smtp_username) == ("", None, "")
    assert (stored.smtp_password, stored.smtp_security) == ("", "")


def test_create_native_accepts_null_smtp(client_all):
    response = client_all.post(URL, {**NATIVE_BODY, "smtp": None})
    assert response.status_code == 201, response.json()
    assert response.json()["smtp"] is None


def test_create_smtp_with_all_fields(client_all, workspace):
    response = client_all.post(URL, SMTP_BODY)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["type"] == "SMTP"
    assert body["email"] == "sales@example.com"
    assert body["display_name"] == "Sales Team"
    assert body["daily_limit"] == 120
    assert body["smtp"] == {
        "host": "smtp.example.com",
        "port": 465,
        "username": "sales@example.com",
        "security": "SSL",
    }
    assert body["status"] == "ACTIVE"
    assert PASSWORD.encode() not in response.content

    stored = SenderAccount.objects.get(pk=body["id"])
    assert stored.workspace == workspace
    assert (stored.smtp_host, stored.smtp_port, stored.smtp_username, stored.smtp_security) == (
        "smtp.example.com", 465, "sales@example.com", "SSL",
    )  # fmt: skip
    assert stored.smtp_password == PASSWORD


def test_create_smtp_security_defaults_to_starttls(client_all):
    response = client_all.post(URL, with_changes(SMTP_BODY, smtp__security=...))
    assert response.status_code == 201, response.json()
    assert response.json()["smtp"]["security"] == "STARTTLS"
    assert SenderAccount.objects.get().smtp_security == "STARTTLS"


@pytest.mark.parametrize("host", ["10.0.0.25", "[2001:db8::25]", "mail-1.example.co.uk."])
def test_create_smtp_accepts_ip_addresses_and_host_names(client_all, host):
    response = client_all.post(URL, with_changes(SMTP_BODY, smtp__host=host))
    assert response.status_code == 201, response.json()
    assert response.json()["smtp"]["host"] == host


# Every rule of the object: (request body, the error it must produce).
INVALID = {
    "native with smtp block": (
        {**NATIVE_BODY, "smtp": SMTP_BLOCK},
        {"smtp": ["Not allowed for NATIVE sender accounts."]},
    ),
    "native with empty smtp block": (
        {**NATIVE_BODY, "smtp": {}},
        {"smtp": ["Not allowed for NATIVE sender accounts."]},
    ),
    "smtp without smtp block": (
        with_changes(SMTP_BODY, smtp=...),
        {"smtp": ["Required for SMTP sender accounts."]},
    ),
    "smtp with null smtp block": (
        with_changes(SMTP_BODY, smtp=None),
        {"smtp": ["Required for SMTP sender accounts."]},
    ),
    "port 0": (with_changes(SMTP_BODY, smtp__port=0), "smtp.port"),
    "port 65536": (with_changes(SMTP_BODY, smtp__port=65536), "smtp.port"),
    "port not a number": (with_changes(SMTP_BODY, smtp__port="smtp"), "smtp.port"),
    "port missing": (with_changes(SMTP_BODY, smtp__port=...), "smtp.port"),
    "bad security": (with_changes(SMTP_BODY, smtp__security="TLS"), "smtp.security"),
    "empty host": (with_changes(SMTP_BODY, smtp__host=""), "smtp.host"),
    "blank host": (with_changes(SMTP_BODY, smtp__host="   "), "smtp.host"),
    "host with port": (with_changes(SMTP_BODY, smtp__host="smtp.example.com:587"), "smtp.host"),
    "host with scheme": (with_changes(SMTP_BODY, smtp__host="smtp://example.com"), "smtp.host"),
    "host with space": (with_changes(SMTP_BODY, smtp__host="smtp example.com"), "smtp.host"),
    "empty username": (with_changes(SMTP_BODY, smtp__username=""), "smtp.username"),
    "username missing": (with_changes(SMTP_BODY, smtp__username=...), "smtp.username"),
    "empty password": (with_changes(SMTP_BODY, smtp__password=""), "smtp.password"),
    "password missing": (with_changes(SMTP_BODY, smtp__password=...), "smtp.password"),
    "password too long": (with_changes(SMTP_BODY, smtp__password="x" * 1025), "smtp.password"),
    "unknown field in smtp": (
        with_changes(SMTP_BODY, smtp__tls=True),
        {"smtp": {"tls": ["Unknown field."]}},
    ),
    "bad email": ({**NATIVE_BODY, "email": "not-an-email"}, "email"),
    "empty email": ({**NATIVE_BODY, "email": ""}, "email"),
    "email missing": ({"type": "NATIVE"}, "email"),
    "type missing": ({"email": "a@example.com"}, "type"),
    "unknown type": ({**NATIVE_BODY, "type": "GMAIL"}, "type"),
    "daily_limit 0": ({**NATIVE_BODY, "daily_limit": 0}, "daily_limit"),
    "daily_limit 10001": ({**NATIVE_BODY, "daily_limit": 10001}, "daily_limit"),
    "daily_limit not a number": ({**NATIVE_BODY, "daily_limit": "lots"}, "daily_limit"),
    "display_name with a line break": (
        {**NATIVE_BODY, "display_name": "Sales\r\nBcc: x@example.com"},
        "display_name",
    ),
    "display_name too long": ({**NATIVE_BODY, "display_name": "x" * 201}, "display_name"),
    "unknown field": ({**NATIVE_BODY, "nickname": "x"}, {"nickname": ["Unknown field."]}),
    "read-only status": (
        {**NATIVE_BODY, "status": "DISABLED"},
        {"status": ["This field is read-only."]},
    ),
    "read-only id": (
        {**NATIVE_BODY, "id": str(uuid.uuid4())},
        {"id": ["This field is read-only."]},
    ),
    "not an object": (["hello@example.com"], "non_field_errors"),
}


@pytest.mark.parametrize(("body", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid_input_is_400_and_saves_nothing(client_all, body, expected):
    response = client_all.post(URL, body)

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
    assert SenderAccount.objects.count() == 0
    assert PASSWORD.encode() not in response.content


def test_several_errors_are_reported_together(client_all):
    body = with_changes(SMTP_BODY, email="nope", daily_limit=0, extra=1, smtp__port=0)
    response = client_all.post(URL, body)

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"email", "daily_limit", "extra", "smtp"}
    assert set(errors["smtp"]) == {"port"}
    assert SenderAccount.objects.count() == 0


def test_non_json_body_is_refused(client_all):
    response = client_all.post(
        URL, {"type": "NATIVE", "email": "a@example.com"}, format="multipart"
    )
    assert response.status_code == 415
    assert "detail" in response.json()
    assert SenderAccount.objects.count() == 0


# --- the password never leaves --------------------------------------------------------------


def test_password_is_in_no_response(client_all, caplog):
    caplog.set_level(logging.DEBUG)
    with CaptureQueriesContext(connection) as queries:  # also logs every SQL statement
        created = client_all.post(URL, SMTP_BODY)
        pk = created.json()["id"]
        responses = [
            created,
            client_all.get(detail_url(pk)),
            client_all.get(URL),
            client_all.patch(detail_url(pk), {"smtp": SMTP_BLOCK}),
            client_all.post(URL, with_changes(SMTP_BODY, smtp__port=0)),
        ]

    assert [r.status_code for r in responses] == [201, 200, 200, 200, 400]
    assert responses[2].json()["results"][0]["smtp"] == {
        "host": "smtp.example.com",
        "port": 465,
        "username": "sales@example.com",
        "security": "SSL",
    }
    for response in responses:
        assert PASSWORD.encode() not in response.content
        assert b"password" not in response.content.lower()
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in q["sql"] for q in queries.captured_queries)


def test_password_is_not_in_repr_or_str(workspace):
    account = make_smtp_account(workspace, PASSWORD)
    assert PASSWORD not in repr(account)
    assert PASSWORD not in str(account)


# --- read ----------------------------------------------------------------------------------


def test_retrieve_smtp_account(client_all, workspace):
    account = make_smtp_account(workspace, PASSWORD, display_name="Ops", daily_limit=7)

    response = client_all.get(detail_url(account.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": str(account.pk),
        "type": "SMTP",
        "email": account.email,
        "display_name": "Ops",
        "daily_limit": 7,
        "min_interval_seconds": 180,
        "max_interval_seconds": 300,
        "smtp": {
            "host": "smtp.example.com",
            "port": 587,
            "username": "user",
            "security": "STARTTLS",
        },
        "imap": None,
        "status": "ACTIVE",
        "last_error": "",
        "created_at": response.json()["created_at"],
        "stats": {"sent_today": 0, "sent_total": 0, "bounced": 0},
        "inbox": None,
    }
    assert PASSWORD.encode() not in response.content


def test_trailing_slash_is_optional(client_all, workspace):
    account = make_sender(workspace)
    assert client_all.get(f"{URL}/").status_code == 200
    assert client_all.get(f"{detail_url(account.pk)}/").status_code == 200


def test_list_items_have_no_stats(client_all, workspace):
    make_sender(workspace)
    item = client_all.get(URL).json()["results"][0]
    assert "stats" not in item
    assert item["smtp"] is None


def test_list_is_newest_first_and_paginated(client_all, workspace):
    accounts = [make_sender(workspace, email=f"a{i}@example.com") for i in range(30)]
    newest_first = [str(a.pk) for a in reversed(accounts)]

    first = client_all.get(URL, {"limit": 10}).json()
    assert [r["id"] for r in first["results"]] == newest_first[:10]
    assert first["previous"] is None

    seen, page = [], first
    while True:
        seen += [r["id"] for r in page["results"]]
        if page["next"] is None:
            break
        page = client_all.get(page["next"]).json()
    assert seen == newest_first

    default = client_all.get(URL).json()
    assert len(default["results"]) == 25


def test_list_is_stable_under_concurrent_inserts(client_all, workspace):
    accounts = [make_sender(workspace) for _ in range(6)]
    first = client_all.get(URL, {"limit": 3}).json()
    make_sender(workspace)  # a newer account arrives between the pages
    second = client_all.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [str(a.pk) for a in reversed(accounts[:3])]


# --- workspaces ----------------------------------------------------------------------------


def test_other_workspace_account_is_invisible(client_all, workspace, other_workspace):
    mine = make_sender(workspace)
    theirs = make_smtp_account(other_workspace, PASSWORD)

    listed = client_all.get(URL).json()["results"]
    assert [r["id"] for r in listed] == [str(mine.pk)]

    for response in (
        client_all.get(detail_url(theirs.pk)),
        client_all.delete(detail_url(theirs.pk)),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    assert SenderAccount.objects.filter(pk=theirs.pk).exists()


def test_created_account_belongs_to_the_key_workspace(make_client, other_workspace):
    client = make_client(["sender_accounts:all"], other_workspace)
    response = client.post(URL, NATIVE_BODY)
    assert response.status_code == 201
    assert SenderAccount.objects.get(pk=response.json()["id"]).workspace == other_workspace


@pytest.mark.parametrize("pk", ["nope", "12345", str(uuid.uuid4())])
def test_unknown_id_is_404(client_all, pk):
    for response in (client_all.get(detail_url(pk)), client_all.delete(detail_url(pk))):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


# --- no PUT --------------------------------------------------------------------------------


def test_put_is_not_offered(client_all, workspace):
    account = make_sender(workspace, display_name="Before")

    response = client_all.put(detail_url(account.pk), {"display_name": "After"})

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert "PUT" not in response["Allow"]
    assert "PATCH" in response["Allow"]
    account.refresh_from_db()
    assert account.display_name == "Before"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_list_path_offers_only_get_and_post(client_all, method):
    response = getattr(client_all, method)(URL, NATIVE_BODY)
    assert response.status_code == 405
    assert "detail" in response.json()


def test_update_without_key_is_401_first(workspace):
    account = make_sender(workspace)
    response = APIClient().patch(detail_url(account.pk), {"display_name": "x"}, format="json")
    assert response.status_code == 401


# --- scopes --------------------------------------------------------------------------------

OPERATIONS = [
    ("get", "list", "sender_accounts:read"),
    ("get", "detail", "sender_accounts:read"),
    ("post", "list", "sender_accounts:create"),
    ("patch", "detail", "sender_accounts:update"),
    ("delete", "detail", "sender_accounts:delete"),
]
BODIES = {"post": NATIVE_BODY, "patch": {"display_name": "Renamed"}}


@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS)
def test_each_operation_needs_its_scope(make_client, workspace, method, path, scope):
    account = make_sender(workspace)
    url = URL if path == "list" else detail_url(account.pk)
    body = BODIES.get(method)
    others = sorted(s for _, _, s in OPERATIONS if s != scope)

    denied = getattr(make_client(others), method)(url, body)
    assert denied.status_code == 403
    assert denied.json() == {
        "detail": f"Missing required scopes: {scope}",
        "required": [scope],
        "granted": sorted(set(others)),
    }

    for granted in (scope, "sender_accounts:all", "*"):
        allowed = getattr(make_client([granted]), method)(url, body)
        assert allowed.status_code in {200, 201, 204}, (granted, allowed.content)
        if method == "delete":
            account = make_sender(workspace)
            url = detail_url(account.pk)


# --- stats ---------------------------------------------------------------------------------


def add_events(campaign, account, event_type, times, lead=None):
    lead = lead or Lead.objects.create(
        workspace=campaign.workspace, campaign=campaign, email=f"{uuid.uuid4().hex}@example.com"
    )
    EmailEvent.objects.bulk_create(
        EmailEvent(
            campaign=campaign, lead=lead, sender_account=account, type=event_type, occurred_at=t
        )
        for t in times
    )


def test_stats_count_this_accounts_events(client_all, workspace):
    account, other = make_smtp_account(workspace, PASSWORD), make_sender(workspace)
    campaign = campaign_using(workspace, account, other)
    second_campaign = campaign_using(workspace, account)
    now = timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    Event = EmailEvent.Type

    add_events(campaign, account, Event.SENT, [midnight, now])  # today, from 00:00 UTC on
    add_events(second_campaign, account, Event.SENT, [now])
    add_events(campaign, account, Event.SENT, [midnight - timedelta(seconds=1)])  # yesterday
    add_events(campaign, account, Event.SENT, [midnight - timedelta(days=40)])
    add_events(campaign, account, Event.BOUNCED, [now, midnight - timedelta(days=3)])
    for event_type in (Event.OPENED, Event.CLICKED, Event.REPLIED, Event.UNSUBSCRIBED):
        add_events(campaign, account, event_type, [now])
    add_events(campaign, other, Event.SENT, [now, now, now])  # another account's
    add_events(campaign, other, Event.BOUNCED, [now])
    add_events(campaign, None, Event.SENT, [now])  # an event with no account

    response = client_all.get(detail_url(account.pk))

    assert response.status_code == 200
    # sent_today counts SMTP attempts (tests/test_sender_account_pacing_fields.py), not events.
    assert response.json()["stats"] == {"sent_today": 0, "sent_total": 5, "bounced": 2}
    other_stats = client_all.get(detail_url(other.pk)).json()["stats"]
    assert other_stats == {"sent_today": 0, "sent_total": 3, "bounced": 1}


# --- query counts --------------------------------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_accounts(client_all, workspace):
    make_smtp_account(workspace, PASSWORD)
    client_all.get(URL)  # the key's first use records it; later requests do not write
    one = count_queries(client_all, URL)

    for i in range(19):
        make_smtp_account(workspace, PASSWORD) if i % 2 else make_sender(workspace)
    twenty = count_queries(client_all, URL)

    assert len(client_all.get(URL).json()["results"]) == 20
    assert one == twenty == 2  # the key, the page


def test_detail_query_count_does_not_grow_with_events(client_all, workspace):
    account = make_smtp_account(workspace, PASSWORD)
    client_all.get(detail_url(account.pk))
    empty = count_queries(client_all, detail_url(account.pk))

    for _ in range(5):
        campaign = campaign_using(workspace, account)
        add_events(campaign, account, EmailEvent.Type.SENT, [timezone.now()] * 4)
        add_events(campaign, account, EmailEvent.Type.BOUNCED, [timezone.now()])
    busy = count_queries(client_all, detail_url(account.pk))

    # the key, the account, the attempts count, one aggregate of events, the answers sent
    assert empty == busy == 5
