"""One structured log line per API request, and never a raw key or an SMTP password in logs."""

import json
import logging

from django.test import Client

from tests.urls import api_url

PASSWORD = "s3cret-Smtp-Passw0rd!"


def request_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "coldsend.requests"]


def test_one_structured_line_per_request(caplog, make_key):
    key, raw = make_key(["*"])
    caplog.set_level(logging.INFO, logger="coldsend.requests")
    Client().get(api_url("me"), HTTP_X_API_KEY=raw)
    Client().get(api_url("me"))
    ok, refused = request_lines(caplog)
    assert ok["method"] == "GET"
    assert ok["path"] == "/api/public/v1/me"
    assert ok["status"] == 200
    assert ok["duration_ms"] >= 0
    assert ok["key_prefix"] == key.prefix
    assert ok["workspace"] == "acme"
    assert refused["status"] == 401
    assert refused["key_prefix"] is None


def test_no_raw_key_or_smtp_password_in_any_log(caplog, make_key, other_workspace):
    caplog.set_level(logging.DEBUG)
    _, raw = make_key(["*"])
    client = Client(raise_request_exception=False)
    headers = {"HTTP_X_API_KEY": raw}
    smtp = {
        "host": "smtp.example.com",
        "port": 587,
        "username": "u",
        "password": PASSWORD,
        "security": "STARTTLS",
    }
    created = client.post(
        api_url("sender_accounts"),
        {"type": "SMTP", "email": "a@example.com", "smtp": smtp},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201
    account = created.json()["id"]
    # invalid input carrying the password, a lookup, a listing, a refusal and a bad key
    client.post(
        api_url("sender_accounts"),
        {"type": "NATIVE", "email": "not-an-email", "smtp": smtp},
        content_type="application/json",
        **headers,
    )
    client.get(api_url(f"sender_accounts/{account}"), **headers)
    client.get(api_url("sender_accounts"), **headers)
    client.get(api_url("me"), HTTP_X_API_KEY=raw[:-1] + ("A" if raw[-1] != "A" else "B"))
    client.get(api_url("me"), HTTP_AUTHORIZATION=f"Bearer {raw}x")
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert len(request_lines(caplog)) == 6
    assert raw not in logged
    assert raw[8:-6] not in logged  # not even the secret part
    assert PASSWORD not in logged
