"""Production behaviour: JSON errors with DEBUG off, `check --deploy`, security headers,
bounded request bodies."""

import os
import subprocess
import sys
from pathlib import Path

from django.test import Client, override_settings

from tests.processes import PRODUCTION_ENV
from tests.urls import api_url

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_an_encryption_key():
    env = {**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEYS": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


@override_settings(DEBUG=False)
def test_unknown_paths_are_json_404(client):
    for path in ("/api/public/v1/nothing-here", "/nothing-at-all"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


@override_settings(DEBUG=False, ROOT_URLCONF="tests.crash_urls")
def test_a_server_error_is_json_without_a_trace(make_key):
    _, raw = make_key(["*"])
    client = Client(raise_request_exception=False)
    for path in ("/api/public/v1/crash", "/crash-outside-the-api"):
        response = client.get(path, HTTP_X_API_KEY=raw)
        assert response.status_code == 500
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Internal server error."}
        assert b"Traceback" not in response.content
        assert b"ZeroDivisionError" not in response.content


def test_security_headers(client_all):
    response = client_all.get(api_url("me"))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_hsts_behind_tls(client_all):
    response = client_all.get(api_url("me"), HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = client_all.get(api_url("me"))
    assert "Strict-Transport-Security" not in plain


@override_settings(API_MAX_BODY_BYTES=1024)
def test_an_oversized_body_is_413_and_changes_nothing(client_all):
    response = client_all.post(api_url("campaigns"), {"name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert "detail" in response.json()
    assert client_all.get(api_url("campaigns")).json()["results"] == []
