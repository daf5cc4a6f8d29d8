"""The interactive API docs (Swagger UI at `docs`, Redoc at `redoc`) load from this service
alone: every script, style sheet and icon they reference is served by the project itself, so
a firewalled or offline machine shows the same page."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.urls import api_url, referenced_urls

DOC_PAGES = ["docs", "redoc"]


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def offline_client() -> Client:
    """A client whose WhiteNoise middleware serves the apps' static files (conftest), as in
    development; the production path, after collectstatic, is in test_static_files.py."""
    return Client()


@pytest.mark.parametrize("page", DOC_PAGES)
def test_every_asset_of_the_docs_page_is_served_locally(offline_client, page):
    url = api_url(page)
    response = offline_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()

    assets = referenced_urls(url, html)
    assert any(asset.endswith(".js") for asset in assets)
    assert api_url("schema") in assets
    for asset in assets:
        parts = urlsplit(asset)
        assert not parts.scheme, f"{asset} is loaded from another host"
        assert not parts.netloc, f"{asset} is loaded from another host"
        fetched = offline_client.get(asset)
        assert fetched.status_code == 200, asset
        assert body(fetched), asset


def test_the_docs_do_not_contact_any_other_host(offline_client):
    for page in DOC_PAGES:
        html = offline_client.get(api_url(page)).content.decode()
        assert "fonts.googleapis.com" not in html
        assert "cdn.jsdelivr.net" not in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), page
    # Swagger UI would otherwise send the schema to swagger.io's online validator.
    assert '"validatorUrl": null' in offline_client.get(api_url("docs")).content.decode()


def test_swagger_ui_version_is_the_pinned_sidecar(offline_client):
    """The bundle comes from the pinned drf-spectacular-sidecar package, not `@latest`."""
    html = offline_client.get(api_url("docs")).content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "@latest" not in html


@pytest.mark.parametrize("path", ["redoc", "redoc/"])
def test_redoc_answers_with_and_without_a_trailing_slash(client, path):
    response = client.get(api_url(path))
    assert response.status_code == 200
    assert b"redoc.standalone.js" in response.content
