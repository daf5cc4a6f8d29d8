"""`create_api_key` and `revoke_api_key` (API.md §1)."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey
from apikeys.scopes import KNOWN_SCOPES
from tests.processes import create_api_key_process
from tests.urls import api_url
from workspaces.models import Workspace

ME = api_url("me")


def create(*args: str) -> tuple[str, str]:
    """Run create_api_key; return (raw key from the last line, whole stdout)."""
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    text = out.getvalue()
    return text.rstrip("\n").splitlines()[-1], text


def revoke(ident: str) -> str:
    out = StringIO()
    call_command("revoke_api_key", ident, stdout=out)
    return out.getvalue()


def me(raw: str):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client.get(ME)


@pytest.mark.django_db
def test_create_prints_the_raw_key_alone_on_the_last_line():
    raw, text = create("--name", "CRM sync", "--scopes", "campaigns:read,leads:all")
    assert raw == raw.strip()
    assert keys.is_well_formed(raw)
    assert text.count(raw) == 1  # shown once
    assert text.endswith(raw + "\n")

    key = APIKey.objects.get()
    assert key.name == "CRM sync"
    assert key.scopes == ["campaigns:read", "leads:all"]
    assert key.prefix == raw[:16]
    assert key.key_hash == keys.hash_key(raw)
    assert key.expires_at is None
    assert key.revoked_at is None
    assert key.workspace.slug == "default"

    response = me(raw)
    assert response.status_code == 200
    assert response.json()["name"] == "CRM sync"
    assert response.json()["workspace"] == "default"
    assert response.json()["scopes"] == ["campaigns:read", "leads:all"]


@pytest.mark.django_db
def test_create_makes_the_default_workspace_once():
    assert not Workspace.objects.exists()
    create("--name", "a", "--scopes", "leads:read")
    create("--name", "b", "--scopes", "leads:read")
    assert list(Workspace.objects.values_list("slug", flat=True)) == ["default"]
    assert APIKey.objects.filter(workspace__slug="default").count() == 2


@pytest.mark.django_db
def test_create_in_a_named_workspace_created_if_missing():
    raw, _ = create("--name", "n", "--scopes", "*", "--workspace", "acme")
    assert Workspace.objects.get(slug="acme").api_keys.get().prefix == raw[:16]
    assert me(raw).json()["workspace"] == "acme"


@pytest.mark.django_db
def test_create_in_an_existing_workspace_reuses_it(workspace):
    raw, _ = create("--name", "n", "--scopes", "*", "--workspace", workspace.slug)
    assert Workspace.objects.count() == 1
    assert APIKey.objects.get().workspace == workspace
    assert Workspace.objects.get().name == "Acme"  # untouched
    assert me(raw).status_code == 200


@pytest.mark.django_db
def test_create_with_expiry():
    before = timezone.now()
    raw, _ = create("--name", "n", "--scopes", "leads:read", "--expires-in-days", "7")
    after = timezone.now()
    key = APIKey.objects.get()
    assert before + timedelta(days=7) <= key.expires_at <= after + timedelta(days=7)
    assert me(raw).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["0", "-1"])
def test_create_refuses_non_positive_expiry(days):
    with pytest.raises(CommandError):
        create("--name", "n", "--scopes", "leads:read", "--expires-in-days", days)
    assert not APIKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scopes", ["campaigns:write", "campaigns:read,bogus", "leads:update", "CAMPAIGNS:READ"]
)
def test_create_refuses_unknown_scopes(scopes):
    out = StringIO()
    with pytest.raises(CommandError) as error:
        call_command("create_api_key", "--name", "n", "--scopes", scopes, stdout=out)
    message = str(error.value)
    assert "Unknown scope" in message
    for known in KNOWN_SCOPES:
        assert known in message
    assert error.value.returncode != 0
    assert "cs_live_" not in out.getvalue()
    assert not APIKey.objects.exists()
    assert not Workspace.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["", " , "])
def test_create_refuses_no_scopes(scopes):
    with pytest.raises(CommandError):
        create("--name", "n", "--scopes", scopes)
    assert not APIKey.objects.exists()


def test_create_with_unknown_scope_exits_non_zero_in_a_real_process(tmp_path: Path):
    # The scope is refused before the (throwaway) database is used.
    result = create_api_key_process(tmp_path, "--name", "n", "--scopes", "nope:read")
    assert result.returncode != 0
    assert "Unknown scope(s): nope:read" in result.stderr
    assert "campaigns:read" in result.stderr
    assert "cs_live_" not in result.stdout


@pytest.mark.django_db
def test_revoke_by_prefix():
    raw, _ = create("--name", "n", "--scopes", "*")
    other, _ = create("--name", "other", "--scopes", "*")
    assert me(raw).status_code == 200
    output = revoke(raw[:16])
    assert raw[:16] in output
    assert APIKey.objects.get(prefix=raw[:16]).revoked_at is not None
    response = me(raw)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key"}
    assert me(other).status_code == 200  # only that key


@pytest.mark.django_db
def test_revoke_by_id():
    raw, _ = create("--name", "n", "--scopes", "*")
    key = APIKey.objects.get()
    revoke(str(key.id))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert me(raw).status_code == 401
    assert me(raw).json() == {"detail": "Invalid or revoked API key"}


@pytest.mark.django_db
def test_revoke_twice_keeps_the_first_revocation_time():
    raw, _ = create("--name", "n", "--scopes", "*")
    revoke(raw[:16])
    first = APIKey.objects.get().revoked_at
    output = revoke(raw[:16])
    assert "already revoked" in output
    assert APIKey.objects.get().revoked_at == first


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ident",
    [
        "cs_live_00000000",
        "cs_live_",
        "cs_live",
        "nothing",
        "00000000-0000-0000-0000-000000000000",
        "",
    ],
)
def test_revoke_unknown_is_an_error(ident):
    raw, _ = create("--name", "n", "--scopes", "*")
    with pytest.raises(CommandError) as error:
        revoke(ident)
    assert error.value.returncode != 0
    assert APIKey.objects.get().revoked_at is None
    assert me(raw).status_code == 200
