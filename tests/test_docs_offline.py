"""The interactive API docs (Swagger UI at `docs`, Redoc at `redoc`) load from this service
alone: every script, style sheet and icon they reference is served by the project itself, so
a firewalled or offline machine shows the same page."""

import json
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from tests.urls import api_url, referenced_urls

DOC_PAGES = ["docs", "redoc"]
# Every page a reader of the docs is sent to, and the document they render.
SERVED = [*DOC_PAGES, "guide", "guide/sending", "schema"]
# Hosts that are never contacted: the test server, this machine (a development server's own
# address in the guides), and the names reserved for examples (RFC 2606, RFC 6761).
OWN_HOSTS = {"testserver", "127.0.0.1", "localhost"}
EXAMPLE_HOSTS = re.compile(r"(^|\.)(example\.(com|net|org)|example|test|invalid)$")
URL = re.compile(r"""(?:https?:)?//[^\s"'<>()\\`]+""")
# What a page's Content-Security-Policy may allow: this host and inline or local content only.
LOCAL_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"}


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


def other_hosts(text: str) -> set[str]:
    """The hosts of the absolute URLs in `text` that are neither this server nor examples (nor
    an elided one, `https://…/leads`)."""
    hosts = set()
    for url in URL.findall(text):
        host = urlsplit(url if url.startswith("http") else f"http:{url}").hostname or ""
        if host.strip("…") and host not in OWN_HOSTS and not EXAMPLE_HOSTS.search(host):
            hosts.add(host)
    return hosts


def csp_sources(policy: str) -> dict[str, set[str]]:
    directives = (d.split() for d in policy.split(";") if d.strip())
    return {name: set(sources) for name, *sources in directives}


def test_other_hosts_finds_what_it_should():
    found = other_hosts(
        'src="https://cdn.redoc.ly/logo.svg" href=//fonts.googleapis.com/css '
        "http://testserver/x http://127.0.0.1:8000 https://api.example.org/?c=1 https://…/leads"
    )
    assert found == {"cdn.redoc.ly", "fonts.googleapis.com"}


@pytest.mark.parametrize("page", SERVED)
def test_no_other_host_is_referenced(offline_client, page):
    """No URL on another host in what is served: not in an attribute, not in a script, not in
    the schema's text (whose examples use reserved example hosts only)."""
    response = offline_client.get(api_url(page))
    assert response.status_code == 200
    assert other_hosts(response.content.decode()) == set()


def test_the_schema_names_no_logo_and_no_other_host():
    """Redoc shows `info.x-logo` and links `externalDocs`, `contact` and `license`: none is set,
    and no value anywhere in the document is a URL on another host."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert {"x-logo", "contact", "license", "termsOfService"} & set(schema["info"]) == set()
    assert "externalDocs" not in schema
    assert other_hosts(json.dumps(schema)) == set()


def test_redoc_cannot_load_from_another_host(offline_client):
    """Redoc's bundle shows Redocly's logo from cdn.redoc.ly in its sidebar, whatever its
    options say: the page's policy keeps every fetch on this host, so the browser never sends
    that request (the image then hides itself)."""
    html = offline_client.get(api_url("redoc")).content.decode()
    [policy] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    sources = csp_sources(policy)
    assert "default-src" in sources
    for directive, allowed in sources.items():
        assert allowed <= LOCAL_SOURCES, f"{directive} allows {allowed - LOCAL_SOURCES}"
    assert sources["img-src"] <= {"'self'", "data:"}
    bundle = next(u for u in referenced_urls(api_url("redoc"), html) if u.endswith(".js"))
    images = re.findall(r'src:"(https?://[^"]+)"', body(offline_client.get(bundle)).decode())
    assert all(urlsplit(image).hostname == "cdn.redoc.ly" for image in images), images


def test_the_guides_load_nothing(offline_client):
    for page in ("guide", "guide/sending"):
        response = offline_client.get(api_url(page))
        assert referenced_urls(api_url(page), response.content.decode()) == []
        sources = csp_sources(response["Content-Security-Policy"])
        assert sources["default-src"] == {"'none'"}
        assert "script-src" not in sources
