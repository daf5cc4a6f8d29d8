"""Workspace slugs are validated the same way everywhere: `create_api_key --workspace` and the
admin's workspace form accept only what Django's slug validator accepts (letters, digits,
underscores, hyphens; at most 64 characters), so no slug carries a path or markup (issue 12,
finding 9)."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apikeys.models import APIKey
from tests.processes import create_api_key_process
from workspaces.models import Workspace

BAD_SLUGS = ["../evil", "xss<b>ws</b>", "a b", "acme/../x", "ünï", "a" * 65, ""]


@pytest.mark.django_db
@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_create_api_key_refuses_a_slug_the_admin_would_refuse(slug):
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command(
            "create_api_key", "--name", "n", "--scopes", "*", "--workspace", slug, stdout=out
        )
    assert f"--workspace {slug!r}" in str(refused.value)
    assert not Workspace.objects.exists()
    assert not APIKey.objects.exists()
    assert "cs_live_" not in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["acme", "acme-eu_2", "a" * 64])
def test_create_api_key_accepts_a_valid_slug(slug):
    out = StringIO()
    call_command("create_api_key", "--name", "n", "--scopes", "*", "--workspace", slug, stdout=out)
    assert Workspace.objects.get().slug == slug


def test_a_bad_slug_exits_non_zero_in_a_real_process(tmp_path: Path):
    result = create_api_key_process(
        tmp_path, "--name", "n", "--scopes", "*", "--workspace", "../evil"
    )
    assert result.returncode != 0
    assert "--workspace '../evil'" in result.stderr
    assert "slug" in result.stderr
    assert "cs_live_" not in result.stdout


@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_the_admin_workspace_form_refuses_the_same_slugs(superuser_client, slug):
    response = superuser_client.post(
        "/admin/workspaces/workspace/add/", {"slug": slug, "name": "Evil", "_save": "Save"}
    )
    assert response.status_code == 200  # the form again, with its errors
    assert response.context["adminform"].form.errors["slug"]
    assert not Workspace.objects.exists()


def test_the_admin_workspace_form_accepts_a_valid_slug(superuser_client):
    response = superuser_client.post(
        "/admin/workspaces/workspace/add/", {"slug": "acme-eu", "name": "Acme EU", "_save": "Save"}
    )
    assert response.status_code == 302
    assert Workspace.objects.get().slug == "acme-eu"
