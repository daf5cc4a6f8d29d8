"""The admin as seen in a 1280 px browser, checked without one: the key list's narrow columns
and yes/no revoked filter, breadcrumbs, the campaign steps inline, the schedule edited with
fields and judged by the API's rules, and "View site" leading to the API docs."""

import re
from html import unescape

import pytest

from apikeys.models import APIKey
from apikeys.scopes import KNOWN_SCOPES
from campaigns.models import Campaign
from tests.admin_forms import campaign_form, schedule_fields
from tests.factories import make_campaign
from tests.urls import api_url

KEYS = "/admin/apikeys/apikey/"
CAMPAIGNS = "/admin/campaigns/campaign/"


def rows(html: str) -> list[str]:
    return re.findall(r"<tr>.*?</tr>", html.split("<tbody>")[1], re.S)


def column_classes(html: str) -> list[str]:
    head = html.split("<thead>")[1].split("</thead>")[0]
    return [c for c in re.findall(r'class="[^"]*column-([\w]+)', head) if c != "action_checkbox"]


def breadcrumbs(html: str) -> str:
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S).group(1)
    text = unescape(re.sub(r"<[^>]+>", "", crumbs)).replace("\u203a", ">")
    return " ".join(text.split())


def test_the_key_list_has_few_narrow_columns_with_active_visible(admin_client, make_key):
    _, _ = make_key(list(KNOWN_SCOPES), name="broad key")
    revoked, _ = make_key(["leads:read"], name="revoked key")
    revoked.revoke()
    html = admin_client.get(KEYS).content.decode()
    assert column_classes(html) == [
        "name",
        "active",
        "workspace",
        "prefix",
        "scope_list",
        "last_used",
    ]
    by_name = {re.search(r">(\w+ key)<", row).group(1): row for row in rows(html)}
    broad = by_name["broad key"]
    # Two scopes and a count, not the whole list of 17.
    assert f"+{len(KNOWN_SCOPES) - 2} more" in broad
    assert "leads:all" not in broad
    assert "never" in broad  # last used: a short date or "never", not a full timestamp
    assert re.search(r'<td class="field-active"><img [^>]*alt="True"', broad)
    assert re.search(r'<td class="field-active"><img [^>]*alt="False"', by_name["revoked key"])


def test_the_revoked_filter_offers_yes_and_no(admin_client, make_key):
    make_key(["leads:read"], name="live key")
    gone, _ = make_key(["leads:read"], name="gone key")
    gone.revoke()
    html = admin_client.get(KEYS).content.decode()
    revoked_filter = re.search(r"By revoked.*?</ul>", html, re.S).group(0)
    assert re.findall(r'<a href="([^"]+)"[^>]*>(\w+)</a>', revoked_filter) == [
        ("?", "All"),
        ("?revoked=yes", "Yes"),
        ("?revoked=no", "No"),
    ]
    for value, expected in (("yes", "gone key"), ("no", "live key")):
        listed = admin_client.get(f"{KEYS}?revoked={value}").content.decode()
        names = [re.search(r">(\w+ key)<", row).group(1) for row in rows(listed)]
        assert names == [expected]
    assert APIKey.objects.count() == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (KEYS, "Home > Access > API keys"),
        ("/admin/workspaces/workspace/", "Home > Organisation > Workspaces"),
    ],
)
def test_breadcrumbs_do_not_repeat_the_app_as_the_model(admin_client, url, expected):
    assert breadcrumbs(admin_client.get(url).content.decode()) == expected


def test_campaign_steps_are_titled_by_number_and_sized_to_fit(admin_client, workspace):
    campaign = make_campaign(workspace, steps=2)
    html = admin_client.get(f"{CAMPAIGNS}{campaign.pk}/change/").content.decode()
    inline = html.split('id="steps-group"')[1].split("</fieldset>")[0]
    assert re.findall(r'<td class="original">\s*<p>\s*(Step \d+)', inline) == ["Step 1", "Step 2"]
    assert str(campaign.pk) not in re.sub(r'value="[^"]*"', "", inline)
    subject = re.search(r'<input type="text" name="steps-0-subject"[^>]*>', inline).group(0)
    assert 'size="30"' in subject
    assert "vTextField" not in subject  # the admin's 610 px wide text class
    body = re.search(r'<textarea name="steps-0-body"[^>]*>', inline).group(0)
    assert 'rows="3"' in body
    assert "vLargeTextField" not in body


def test_the_schedule_is_edited_with_fields(admin_client, workspace):
    schedule = {
        "timezone": "Europe/Berlin",
        "days": [2, 4],
        "start_time": "08:30",
        "end_time": "16:00",
    }
    campaign = make_campaign(workspace, schedule=schedule)
    html = admin_client.get(f"{CAMPAIGNS}{campaign.pk}/change/").content.decode()
    assert 'name="schedule"' not in html  # no raw JSON textarea
    zone = re.search(r'<select name="schedule_timezone".*?</select>', html, re.S).group(0)
    assert re.search(r'<option value="Europe/Berlin" selected>', zone)
    assert '<option value="Asia/Kathmandu">' in zone
    checked = re.findall(r'name="schedule_days" value="(\d)"[^>]* checked', html)
    assert checked == ["2", "4"]
    assert re.search(r'type="time" name="schedule_start_time" value="08:30"', html)
    assert re.search(r'type="time" name="schedule_end_time" value="16:00"', html)


def test_the_add_form_starts_with_the_apis_default_schedule(admin_client):
    html = admin_client.get(f"{CAMPAIGNS}add/").content.decode()
    assert re.search(r'<option value="UTC" selected>', html)
    assert re.findall(r'name="schedule_days" value="(\d)"[^>]* checked', html) == list("12345")


def test_a_schedule_saved_in_the_admin_is_stored_as_the_api_stores_it(
    admin_client, workspace, client_all
):
    campaign = make_campaign(workspace)
    new = {
        "timezone": "America/New_York",
        "days": [5, 1],
        "start_time": "07:00",
        "end_time": "19:45",
    }
    response = admin_client.post(
        f"{CAMPAIGNS}{campaign.pk}/change/", campaign_form(campaign, **schedule_fields(new))
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.schedule == {**new, "days": [1, 5]}
    shown = client_all.get(api_url(f"campaigns/{campaign.pk}")).json()["schedule"]
    assert shown == {**new, "days": [1, 5]}


BAD_SCHEDULES = [
    {"end_time": "08:00"},  # before start_time
    {"end_time": "09:00"},  # equal to start_time
    {"start_time": "9:00"},
    {"start_time": "24:00"},
    {"end_time": "17:00:00"},
    {"days": []},
    {"start_time": ""},
]


@pytest.mark.parametrize("change", BAD_SCHEDULES)
def test_the_admin_refuses_what_the_api_refuses_with_the_same_message(
    admin_client, workspace, client_all, change
):
    good = {"timezone": "UTC", "days": [1, 2], "start_time": "09:00", "end_time": "17:00"}
    campaign = make_campaign(workspace, schedule=good)
    bad = {**good, **change}

    api = client_all.patch(api_url(f"campaigns/{campaign.pk}"), {"schedule": bad}, format="json")
    assert api.status_code == 400
    api_messages = [m for messages in api.json()["schedule"].values() for m in messages]

    response = admin_client.post(
        f"{CAMPAIGNS}{campaign.pk}/change/", campaign_form(campaign, **schedule_fields(bad))
    )
    assert response.status_code == 200
    admin_errors = " ".join(response.context["adminform"].form.errors["schedule"])
    for message in api_messages:
        assert message in admin_errors
    campaign.refresh_from_db()
    assert campaign.schedule == good


def test_an_unknown_time_zone_is_refused(admin_client, workspace):
    campaign = make_campaign(workspace)
    bad = {**campaign.schedule, "timezone": "Mars/Olympus_Mons"}
    response = admin_client.post(
        f"{CAMPAIGNS}{campaign.pk}/change/", campaign_form(campaign, **schedule_fields(bad))
    )
    assert response.status_code == 200
    assert "schedule" in response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.schedule["timezone"] == "UTC"
    assert Campaign.objects.count() == 1


def test_view_site_leads_to_the_api_docs(admin_client, client):
    html = admin_client.get("/admin/").content.decode()
    [target] = re.findall(r'<a href="([^"]+)">View site</a>', html)
    assert target == "/api/public/v1/docs"
    for browser in (admin_client, client):  # logged in or not: a page, not a 404
        response = browser.get(target)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
