"""The admin's "API key created" page, through the real add form (API.md §1: the raw key is
shown once, never stored). Post/redirect/get: the POST redirects to a page that shows the key
on its first view only; a reload shows that it was already shown, and submitting the same
form again creates no second key."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.test import Client
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey
from tests.admin_forms import KEY_ADD_URL, filled_add_form
from tests.urls import api_url

ADD = KEY_ADD_URL
CHANGELIST = "/admin/apikeys/apikey/"
RAW_KEY = re.compile(r"cs_live_[0-9A-Za-z]{40}")
CREATED = re.compile(r"^/admin/apikeys/apikey/([0-9a-f-]{36})/created/\?k=[\w%=-]+$")
ALREADY_SHOWN = "was already shown once and cannot be shown again"


def change_url(key: APIKey) -> str:
    return f"/admin/apikeys/apikey/{key.pk}/change/"


def staff_client(username: str) -> Client:
    user = get_user_model().objects.create_superuser(username, f"{username}@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def cookie_texts(response) -> list[str]:
    """Every cookie the response sets, and the messages inside the (signed, possibly
    compressed) messages cookie."""
    texts = []
    for morsel in response.cookies.values():
        texts.append(morsel.OutputString())
        if morsel.key == CookieStorage.cookie_name and morsel.value:
            texts += [str(m) for m in CookieStorage(HttpRequest())._decode(morsel.value) or []]
    return texts


def stored_session_texts() -> list[str]:
    return [
        text
        for session in Session.objects.all()
        for text in (session.session_data, json.dumps(session.get_decoded(), default=str))
    ]


def me(raw: str):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client.get(api_url("me"))


@pytest.mark.parametrize("button", ["_save", "_continue", "_addanother"])
def test_add_redirects_to_a_page_that_shows_the_key_once(superuser_client, workspace, button):
    data = filled_add_form(superuser_client, workspace, ["campaigns:read", "leads:all"], button)

    posted = superuser_client.post(ADD, data)

    assert posted.status_code == 302
    created_url = posted["Location"]
    assert CREATED.match(created_url), created_url
    key = APIKey.objects.get()
    assert CREATED.match(created_url).group(1) == str(key.pk)
    assert (key.name, key.workspace, key.scopes) == (
        "Admin key",
        workspace,
        ["campaigns:read", "leads:all"],
    )
    # Between the POST and the GET the key is nowhere readable: the session holds it
    # encrypted under a key that only the redirect's URL carries.
    assert not RAW_KEY.search(posted.content.decode())
    session_before_get = stored_session_texts()

    shown = superuser_client.get(created_url)

    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    html = shown.content.decode()
    raw_keys = RAW_KEY.findall(html)
    assert len(raw_keys) == 1
    raw = raw_keys[0]
    assert keys.is_well_formed(raw)
    assert key.key_hash == keys.hash_key(raw)
    assert "shown only this once" in html
    assert f'href="{change_url(key)}"' in html
    assert f'href="{CHANGELIST}"' in html
    assert f'href="{ADD}"' in html
    assert not any(raw[16:] in text for text in session_before_get)
    assert not any(raw[16:] in text for text in stored_session_texts())
    assert not any(raw[16:] in text for text in cookie_texts(posted) + cookie_texts(shown))
    assert not any(raw in str(m) for m in shown.context["messages"])
    assert me(raw).json()["name"] == "Admin key"

    # A reload: the key is not shown again, and no key is created.
    reloaded = superuser_client.get(created_url)
    assert reloaded.status_code == 200
    assert ALREADY_SHOWN in reloaded.content.decode()
    assert not RAW_KEY.search(reloaded.content.decode())
    assert APIKey.objects.count() == 1
    for url in (CHANGELIST, change_url(key), ADD):
        page = superuser_client.get(url).content.decode()
        assert raw[16:] not in page, url
        assert key.key_hash not in page, url


def test_a_second_post_of_the_same_form_creates_no_second_key(superuser_client, workspace):
    data = filled_add_form(superuser_client, workspace, ["*"])
    first = superuser_client.post(ADD, data)
    assert first.status_code == 302
    raw = RAW_KEY.search(superuser_client.get(first["Location"]).content.decode()).group(0)

    again = superuser_client.post(ADD, data)  # a browser's "resend the form", a double click

    assert APIKey.objects.count() == 1
    assert again.status_code == 302
    assert again["Location"].startswith(first["Location"].split("?")[0])
    page = superuser_client.get(again["Location"])
    assert ALREADY_SHOWN in page.content.decode()
    assert not RAW_KEY.search(page.content.decode())
    assert me(raw).status_code == 200


def test_a_second_post_before_the_page_was_seen_still_creates_one_key(superuser_client, workspace):
    data = filled_add_form(superuser_client, workspace, ["leads:read"])
    assert superuser_client.post(ADD, data).status_code == 302
    second = superuser_client.post(ADD, data)
    assert APIKey.objects.count() == 1
    assert second.status_code == 302
    key = APIKey.objects.get()
    assert str(key.pk) in second["Location"]


def test_each_rendered_form_creates_its_own_key(superuser_client, workspace):
    for _ in range(2):
        data = filled_add_form(superuser_client, workspace, ["leads:read"])
        assert superuser_client.post(ADD, data).status_code == 302
    assert APIKey.objects.count() == 2


@pytest.mark.parametrize("token", [None, "", "short", "bad token with spaces!!"])
def test_a_form_without_a_valid_token_creates_nothing(superuser_client, workspace, token):
    data = filled_add_form(superuser_client, workspace, ["leads:read"])
    if token is None:
        del data["form_token"]
    else:
        data["form_token"] = token
    response = superuser_client.post(ADD, data)
    assert response.status_code == 200
    assert "form_token" in response.context["adminform"].form.errors
    assert "reload the page" in response.content.decode()
    assert not APIKey.objects.exists()


def test_the_created_page_needs_its_one_time_key(superuser_client, workspace):
    """A wrong key in the URL shows nothing, and the one read is spent: the right URL after
    it shows nothing either."""
    data = filled_add_form(superuser_client, workspace, ["leads:read"])
    created_url = superuser_client.post(ADD, data)["Location"]
    forged = created_url.split("?")[0] + "?k=" + "A" * 43 + "="
    page = superuser_client.get(forged).content.decode()
    assert ALREADY_SHOWN in page
    assert not RAW_KEY.search(page)
    assert not RAW_KEY.search(superuser_client.get(created_url).content.decode())


def test_another_admin_with_the_url_sees_no_key(superuser_client, workspace):
    data = filled_add_form(superuser_client, workspace, ["leads:read"])
    created_url = superuser_client.post(ADD, data)["Location"]
    other = staff_client("colleague")
    page = other.get(created_url)
    assert page.status_code == 200
    assert not RAW_KEY.search(page.content.decode())
    # The creator still sees it once: the colleague's visit did not spend it.
    assert RAW_KEY.search(superuser_client.get(created_url).content.decode())


def test_the_created_page_needs_a_staff_login(superuser_client, workspace):
    data = filled_add_form(superuser_client, workspace, ["leads:read"])
    created_url = superuser_client.post(ADD, data)["Location"]
    response = Client().get(created_url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
