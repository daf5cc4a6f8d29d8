"""API URLs, the schema's operations with their scopes (and the scope table), URLs a page loads."""

import re
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin

from drf_spectacular.generators import SchemaGenerator

from campaigns.models import Campaign

API = "/api/public/v1"
IMPORT = f"{API}/leads/import"


def api_url(path: str) -> str:
    return f"{API}/{path.lstrip('/')}"


def campaign_url(campaign: Campaign | str | None = None, action: str | None = None) -> str:
    if campaign is None:
        return api_url("campaigns")
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return api_url(f"campaigns/{pk}/{action}" if action else f"campaigns/{pk}")


# Scopes

# The contract's table (API.md §2), written out by hand on purpose.
CONTRACT_SCOPES = {
    "campaigns:create",
    "campaigns:read",
    "campaigns:update",
    "campaigns:delete",
    "campaigns:pause",
    "campaigns:activate",
    "campaigns:all",
    "sender_accounts:create",
    "sender_accounts:read",
    "sender_accounts:update",
    "sender_accounts:delete",
    "sender_accounts:all",
    "leads:reply",
    "webhooks:create",
    "webhooks:read",
    "webhooks:update",
    "webhooks:delete",
    "webhooks:all",
    "events:read",
    "events:all",
    "leads:create",
    "leads:read",
    "leads:delete",
    "leads:all",
    "*",
}
ACTION_SCOPES = {s for s in CONTRACT_SCOPES if s != "*" and not s.endswith(":all")}


SCOPE_NOTE = re.compile(r"Required scope: `([a-z_]+:[a-z_]+)`\.")
SKIPPED_PATHS = {"/api/public/v1/schema", "/api/public/v1/docs"}


def scoped_operations() -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, required scope) for every operation of the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        if path.rstrip("/") in SKIPPED_PATHS:
            continue
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method, operation in methods.items():
            description = operation.get("description", "")
            if "Required scope: none (any valid API key)." in description:
                continue
            match = SCOPE_NOTE.search(description)
            operations.append((method, url, match.group(1) if match else ""))
    return operations


class References(HTMLParser):
    """Every URL a page makes the browser load: src, link href, and Redoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "img": "src", "link": "href", "redoc": "spec-url"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def referenced_urls(page_url: str, html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    # Swagger UI's inline script names the schema it fetches.
    parser.urls += re.findall(r'\burl: "([^"]+)"', html)
    return [urljoin(page_url, url) for url in parser.urls]
