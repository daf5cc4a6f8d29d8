"""Key management in the Django admin (API.md §1): scopes picked from the known list, revoke,
and granted vs. used scopes. The page that shows a new key once is in
test_admin_key_created.py."""

import re
import secrets
from html import unescape

import pytest
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey
from apikeys.scopes import KNOWN_SCOPES
from tests.urls import api_url

ADD = "/admin/apikeys/apikey/add/"
CHANGELIST = "/admin/apikeys/apikey/"
RAW_KEY = re.compile(r"cs_live_[0-9A-Za-z]{40}")


def change_url(key: APIKey) -> str:
    return f"/admin/apikeys/apikey/{key.pk}/change/"


def me(raw: str):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client.get(api_url("me"))


def add_form_data(workspace, scopes: list[str], name: str = "Admin key") -> dict:
    return {
        "name": name,
        "workspace": str(workspace.pk),
        "scopes": scopes,
        "expires_at_0": "",
        "expires_at_1": "",
        "form_token": secrets.token_urlsafe(24),  # the add form's hidden one-time token
        "_save": "Save",
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_add_form_offers_every_known_scope_as_a_checkbox(superuser_client):
    response = superuser_client.get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    offered = re.findall(r'<input type="checkbox" name="scopes" value="([^"]+)"', html)
    assert offered == list(KNOWN_SCOPES)
    assert 'name="key_hash"' not in html
    assert 'name="prefix"' not in html


def test_all_checkboxes_name_the_actions_added_later(superuser_client, make_key):
    """`sender_accounts:update` came later: the key page says, beside sender_accounts:all,
    that keys holding it have it (on the add page and on an existing key's page)."""
    key, _ = make_key(["sender_accounts:all"])
    for url in (ADD, f"{ADD.removesuffix('add/')}{key.pk}/change/"):
        html = superuser_client.get(url).content.decode()
        labels = dict(re.findall(r'value="([^"]+)"[^>]*>\s*([^<]+?)\s*</label>', html))
        assert "includes sender_accounts:update" in labels["sender_accounts:all"], url
        assert "added later" in labels["sender_accounts:all"]
        assert labels["campaigns:all"] == "campaigns:all"
        assert labels["sender_accounts:update"] == "sender_accounts:update"


def test_add_with_an_expiry(superuser_client, workspace):
    data = add_form_data(workspace, ["*"])
    data.update({"expires_at_0": "2031-01-02", "expires_at_1": "03:04:05"})
    response = superuser_client.post(ADD, data, follow=True)
    assert response.status_code == 200
    key = APIKey.objects.get()
    assert key.expires_at.isoformat() == "2031-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    "scopes", [["campaigns:write"], ["campaigns:read", "bogus"], ["leads:update"]]
)
def test_add_refuses_an_unknown_scope(superuser_client, workspace, scopes):
    response = superuser_client.post(ADD, add_form_data(workspace, scopes))
    assert response.status_code == 200  # the form again, with its error
    errors = response.context["adminform"].form.errors
    assert "scopes" in errors
    assert set(errors) == {"scopes"}
    assert not APIKey.objects.exists()
    assert not RAW_KEY.search(response.content.decode())


def test_add_requires_at_least_one_scope(superuser_client, workspace):
    response = superuser_client.post(ADD, add_form_data(workspace, []))
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not APIKey.objects.exists()


def test_change_page_hides_the_hash_and_keeps_the_secret(superuser_client, make_key):
    key, raw = make_key(["leads:read"])
    response = superuser_client.get(change_url(key))
    assert response.status_code == 200
    html = response.content.decode()
    assert key.key_hash not in html
    assert "key_hash" not in html
    assert raw not in html
    assert key.prefix in html

    response = superuser_client.post(
        change_url(key),
        {
            "name": "renamed",
            "scopes": ["campaigns:read", "leads:read"],
            "expires_at_0": "",
            "expires_at_1": "",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content
    key.refresh_from_db()
    assert key.name == "renamed"
    assert key.scopes == ["campaigns:read", "leads:read"]
    assert key.key_hash == keys.hash_key(raw)  # the same secret still works
    assert me(raw).json()["name"] == "renamed"


def test_change_page_refuses_an_unknown_scope(superuser_client, make_key):
    key, _ = make_key(["leads:read"])
    response = superuser_client.post(
        change_url(key),
        {"name": "x", "scopes": ["leads:read", "nope"], "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    key.refresh_from_db()
    assert key.scopes == ["leads:read"]
    assert key.name == "test key"


def test_revoke_action(superuser_client, make_key):
    key, raw = make_key(["*"], name="to revoke")
    keep, keep_raw = make_key(["*"], name="to keep")
    assert me(raw).status_code == 200
    response = superuser_client.post(
        CHANGELIST,
        {"action": "revoke_keys", "_selected_action": [str(key.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked 1 key(s)." in messages_of(response)
    key.refresh_from_db()
    keep.refresh_from_db()
    assert key.revoked_at is not None
    assert keep.revoked_at is None
    response = me(raw)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key"}
    assert me(keep_raw).status_code == 200


def test_revoke_action_leaves_an_already_revoked_key_alone(superuser_client, make_key):
    key, _ = make_key(["*"])
    key.revoke()
    first = APIKey.objects.get().revoked_at
    response = superuser_client.post(
        CHANGELIST, {"action": "revoke_keys", "_selected_action": [str(key.pk)]}, follow=True
    )
    assert "Revoked 0 key(s)." in messages_of(response)
    assert APIKey.objects.get().revoked_at == first


def test_changelist_columns(superuser_client, make_key, other_workspace):
    key, _ = make_key(["leads:read"], name="listed key", ws=other_workspace)
    response = superuser_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("name", "workspace", "prefix"):
        assert f'class="sortable column-{column}' in html or f'class="column-{column}' in html
    row = re.search(r"<tr>.*?</tr>", html.split("<tbody>")[1], re.S).group(0)
    assert "listed key" in row
    assert "globex" in row
    assert key.prefix in row


def scope_audit(html: str) -> dict[str, str]:
    """The granted vs. used scopes shown on the change page, as {scope: state}."""
    return {
        scope: unescape(state).strip()
        for scope, state in re.findall(r"<div><code>([^<]+)</code>:\s*([^<]+)</div>", html)
    }


def test_change_page_before_any_use(superuser_client, make_key):
    key, raw = make_key(["campaigns:all", "leads:read"])
    html = superuser_client.get(change_url(key)).content.decode()
    assert "granted vs. used scopes" in html.lower()
    assert scope_audit(html) == {"campaigns:all": "never used", "leads:read": "never used"}
    assert me(raw).status_code == 200  # `me` needs no scope: nothing counts as used
    html = superuser_client.get(change_url(key)).content.decode()
    assert scope_audit(html) == {"campaigns:all": "never used", "leads:read": "never used"}


def test_change_page_shows_scopes_used_over_http(superuser_client, make_key):
    key, raw = make_key(["campaigns:all", "leads:read", "campaigns:read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(api_url("campaigns")).status_code == 200
    assert client.post(api_url("campaigns"), {"name": "Used"}, format="json").status_code == 201
    key.refresh_from_db()
    assert key.used_scopes == ["campaigns:create", "campaigns:read"]
    assert key.last_used_at is not None

    html = superuser_client.get(change_url(key)).content.decode()
    assert scope_audit(html) == {
        "campaigns:all": "never used",
        "leads:read": "never used",
        "campaigns:read": "used",
        "campaigns:create": "used (via a broader grant)",
    }
