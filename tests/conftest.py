"""Shared fixtures: workspaces, keys with chosen scopes, and API clients that send them."""

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apikeys.models import APIKey, Workspace
from campaigns.models import Campaign
from tests.delivery_support import clock, delivery_settings, sink  # noqa: F401 (fixtures)
from tests.imap_support import dovecot  # noqa: F401 (fixture)
from tests.tracking_support import opens_written_at_once  # noqa: F401 (autouse fixture)

API = "/api/public/v1"


def api_url(path: str) -> str:
    return f"{API}/{path.lstrip('/')}"


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_workspace(db) -> Workspace:
    return Workspace.objects.create(slug="globex", name="Globex")


@pytest.fixture
def campaign(workspace) -> Campaign:
    """A DRAFT campaign in the key's workspace."""
    return Campaign.objects.create(workspace=workspace, name="Spring outreach")


@pytest.fixture
def foreign_campaign(other_workspace) -> Campaign:
    """A campaign in another workspace: invisible to the workspace's keys."""
    return Campaign.objects.create(workspace=other_workspace, name="Globex outreach")


@pytest.fixture
def make_key(workspace) -> Callable[..., tuple[APIKey, str]]:
    def make(scopes=("*",), ws: Workspace | None = None, **fields) -> tuple[APIKey, str]:
        return APIKey.objects.create_key(
            workspace=ws or workspace,
            name=fields.pop("name", "test key"),
            scopes=list(scopes),
            **fields,
        )

    return make


@pytest.fixture
def make_client(make_key) -> Callable[..., APIClient]:
    """A client authenticated with a new key holding `scopes` (in `ws`, default the workspace)."""

    def make(scopes=("*",), ws: Workspace | None = None) -> APIClient:
        _, raw = make_key(scopes, ws)
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        return client

    return make


@pytest.fixture
def client_all(make_client) -> APIClient:
    """A client whose key holds `*`."""
    return make_client(["*"])
