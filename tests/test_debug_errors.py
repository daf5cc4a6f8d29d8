"""API paths answer JSON errors with DEBUG on as well (API.md §3; DEBUG is on under `make
run`): a path no route matches is the JSON 404, never Django's page listing every URL; 405 stays
JSON; a crash, or a request Django refuses before any view, is JSON without a stack trace."""

import logging
import uuid

import pytest
from django.test import Client

from tests.urls import api_url

UNKNOWN = [
    "/api/public/v1/nothing-here",
    "/api/public/v1/nothing/here/",
    "/api/public/v1/",
    "/api/public/v1",
    f"/api/public/v1/campaigns/{uuid.uuid4()}/nothing",
    "/api/public/v1/guide/nothing",
    "/api/public/v1/schema.yaml",
]


@pytest.fixture
def debug(settings) -> None:
    settings.DEBUG = True


def assert_json(response, status: int, body: dict) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == body
    assert int(response.get("Content-Length", len(response.content))) == len(response.content)
    for leak in (b"Traceback", b"urlpatterns", b"URLconf", b"<html", b"DEBUG"):
        assert leak not in response.content


@pytest.mark.parametrize("debug_on", [True, False], ids=["debug", "production"])
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("path", UNKNOWN)
def test_an_unknown_api_path_is_the_json_404(settings, client, path, method, debug_on):
    settings.DEBUG = debug_on
    response = getattr(client, method)(path)
    assert_json(response, 404, {"detail": "Not found."})


def test_an_unknown_api_path_is_404_with_a_key_and_an_idempotency_key(debug, client_all):
    response = client_all.post(
        api_url("nothing-here"), {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert_json(response, 404, {"detail": "Not found."})


def test_405_stays_json_with_debug_on(debug, client, client_all):
    assert_json(client.post(api_url("guide")), 405, {"detail": 'Method "POST" not allowed.'})
    assert_json(
        client_all.put(api_url(f"sender_accounts/{uuid.uuid4()}"), {}, format="json"),
        405,
        {"detail": 'Method "PUT" not allowed.'},
    )


def test_a_server_error_is_json_without_a_trace_with_debug_on(debug, settings, make_key, caplog):
    settings.ROOT_URLCONF = "tests.crash_urls"
    _, raw = make_key(["*"])
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(api_url("crash"), HTTP_X_API_KEY=raw)

    assert_json(response, 500, {"detail": "Internal server error."})
    assert b"ZeroDivisionError" not in response.content
    assert response["X-Content-Type-Options"] == "nosniff"  # the middleware's headers stay
    # The trace is where a developer looks for it: in the log.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info[0] is ZeroDivisionError


def test_a_request_refused_before_any_view_is_json_with_debug_on(debug, client):
    response = client.get(api_url("me"), HTTP_HOST="not-an-allowed-host.example")
    assert_json(response, 400, {"detail": "Bad request."})


def test_pages_outside_the_api_keep_djangos_debug_pages(debug, settings):
    """The admin and the public links are not the API: with DEBUG on, a developer still gets
    Django's pages there."""
    settings.ROOT_URLCONF = "tests.crash_urls"
    response = Client(raise_request_exception=False).get("/crash-outside-the-api")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
