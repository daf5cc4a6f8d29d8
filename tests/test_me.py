"""`GET me`, the schema and docs endpoints, and JSON answers for 404/405 (API.md §3, §4)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import APIKey
from tests.urls import api_url

ME = api_url("me")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", [["leads:read"], ["campaigns:all", "leads:create"], ["*"]])
def test_me_with_any_valid_key(make_key, scopes):
    key, raw = make_key(scopes, name="CRM sync")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    response = client.get(ME)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"name", "prefix", "workspace", "scopes", "expires_at", "created_at"}
    assert body["name"] == "CRM sync"
    assert body["prefix"] == raw[:16] == key.prefix
    assert body["workspace"] == "acme"
    assert body["scopes"] == scopes
    assert body["expires_at"] is None
    assert body["created_at"].endswith("Z")
    created = parse_time(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(created - key.created_at) < timedelta(seconds=1)
    assert raw not in response.content.decode()


@pytest.mark.django_db
def test_me_scopes_as_stored_and_expiry(make_key):
    expires = timezone.now() + timedelta(days=3)
    _, raw = make_key(["leads:all", "campaigns:read"], expires_at=expires)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    body = client.get(ME).json()
    assert body["scopes"] == ["leads:all", "campaigns:read"]  # not expanded
    assert body["expires_at"].endswith("Z")
    expires_at = parse_time(body["expires_at"])
    assert expires_at.utcoffset() == timedelta(0)
    assert abs(expires_at - expires.astimezone(UTC)) < timedelta(seconds=1)


@pytest.mark.django_db
def test_me_reports_the_keys_own_workspace(make_key, other_workspace):
    _, raw = make_key(["leads:read"], ws=other_workspace)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(ME).json()["workspace"] == "globex"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["me", "me/"])
def test_trailing_slash_optional_without_redirect(client_all, path):
    response = client_all.get(api_url(path))
    assert response.status_code == 200
    assert response.json()["name"] == "test key"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_me_other_methods_are_405(client_all, method):
    response = getattr(client_all, method)(ME, {"name": "renamed"}, format="json")
    assert response.status_code == 405
    body = response.json()
    assert set(body) == {"detail"}
    assert method.upper() in body["detail"]
    assert APIKey.objects.get().name == "test key"


@pytest.mark.django_db
def test_me_post_without_key_is_401():
    response = APIClient().post(ME, {}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["schema", "schema/"])
def test_schema_is_public_openapi_3(path):
    response = APIClient().get(api_url(path))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/")
    assert "json" in response["Content-Type"]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    schemes = schema["components"]["securitySchemes"]
    api_key_schemes = [
        s for s in schemes.values() if s == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    ]
    assert len(api_key_schemes) == 1
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())


@pytest.mark.django_db
def test_schema_me_operation_names_its_scope_requirement():
    schema = APIClient().get(api_url("schema")).json()
    me_paths = [p for p in schema["paths"] if p.rstrip("/") == "/api/public/v1/me"]
    assert len(me_paths) == 1
    operation = schema["paths"][me_paths[0]]["get"]
    assert "Required scope: none (any valid API key)." in operation["description"]
    assert operation["security"]  # a key is needed
    assert set(operation) >= {"responses", "operationId"}
    properties = schema["components"]["schemas"]["Me"]["properties"]
    assert set(properties) == {"name", "prefix", "workspace", "scopes", "expires_at", "created_at"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["docs", "docs/"])
def test_docs_serve_html(path):
    response = APIClient().get(api_url(path))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content.lower()
    assert b"swagger" in response.content.lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "nope/",
        "me/extra",
        "mee",
        "schema/x",
        "v2/me",
    ],
)
def test_unknown_path_is_json_404(client_all, path):
    response = client_all.get(api_url(path))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_unknown_path_without_key_is_json_404():
    response = APIClient().get("/api/public/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    response = APIClient().get("/api/public/v2/me")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
