"""Shared fixtures: workspaces, keys with chosen scopes, and API clients that send them."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from apikeys.models import APIKey
from campaigns.models import Campaign
from tests.delivery_support import clock, delivery_settings, sink  # noqa: F401 (fixtures)
from tests.imap_support import dovecot  # noqa: F401 (fixture)
from tests.tracking_support import opens_written_at_once  # noqa: F401 (autouse fixture)
from workspaces.models import Workspace


def pytest_configure(config: pytest.Config) -> None:
    """Pages render and static files are served from the apps' folders, as in development,
    without collectstatic; test_static_files.py covers the collected, hashed production set.
    Set here rather than in a fixture so that apps built at import time get it too."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True  # looked up per request: nothing scanned per client


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture(autouse=True)
def _private_hosts_allowed(settings) -> None:
    """Test servers listen on loopback; the SSRF tests turn the setting off themselves."""
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True


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


@pytest.fixture
def superuser_client(db) -> Client:
    """A Django client logged in to the admin as a superuser (pytest-django's own
    `admin_client` is left as it is)."""
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", None))
    return client
