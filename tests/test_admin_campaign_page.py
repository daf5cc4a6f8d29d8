"""The campaign page in the admin (API.md §9): Activate and Pause (the API's actions, audited as
the admin user, a 409 shown as a message), its numbers (the API's stats) and a chart of the last
30 days' series drawn by the server as SVG, tracking edited with two checkboxes, and a step's
preview and test send (the API's, a test through a real SMTP server)."""

import datetime as dt
import re
from html import unescape

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from audit.models import AuditEvent
from campaigns.models import Campaign
from engagement.models import EmailEvent
from leads.models import Lead
from tests.admin_forms import campaign_form
from tests.delivery_support import WEDNESDAY_NOON, create_account, create_campaign
from tests.factories import make_campaign, make_lead
from workspaces import slots

CAMPAIGNS = "/admin/campaigns/campaign/"
Status = Campaign.Status
SERIES = ["sent", "opened", "clicked", "replied", "bounced", "unsubscribed"]


def change_url(campaign: Campaign) -> str:
    return f"{CAMPAIGNS}{campaign.pk}/change/"


def page(client: Client, campaign: Campaign) -> str:
    response = client.get(change_url(campaign))
    assert response.status_code == 200
    return response.content.decode()


def shown_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def buttons(html: str) -> list[str]:
    return re.findall(r'<button type="submit" name="move" value="(\w+)"', html)


# --- Activate and Pause --------------------------------------------------------------------


def test_activate_then_pause_move_the_campaign_and_are_audited(superuser_client, workspace):
    campaign = make_campaign(workspace)
    lead = make_lead(campaign, email="ann@example.com")
    assert buttons(page(superuser_client, campaign)) == ["activate"]

    activated = superuser_client.post(f"{CAMPAIGNS}{campaign.pk}/activate/", follow=True)

    assert activated.redirect_chain == [(change_url(campaign), 302)]
    assert shown_messages(activated) == [("success", f"“{campaign.name}” is ACTIVE.")]
    campaign.refresh_from_db()
    assert campaign.status == Status.ACTIVE
    lead.refresh_from_db()
    assert lead.next_send_at is not None  # scheduled, as the API's activate does
    assert buttons(activated.content.decode()) == ["pause"]
    assert re.search(r'<div class="readonly">Active</div>', activated.content.decode())

    paused = superuser_client.post(f"{CAMPAIGNS}{campaign.pk}/pause/", follow=True)

    assert shown_messages(paused) == [("success", f"“{campaign.name}” is PAUSED.")]
    campaign.refresh_from_db()
    assert (campaign.status, campaign.paused_reason) == (Status.PAUSED, "user")
    lead.refresh_from_db()
    assert lead.next_send_at is None
    events = AuditEvent.objects.filter(object_id=str(campaign.pk)).order_by("id")
    assert [(e.action, e.actor_type, e.actor, e.extra["to"]) for e in events] == [
        ("campaign.activated", "admin_user", "root", "ACTIVE"),
        ("campaign.paused", "admin_user", "root", "PAUSED"),
    ]


def test_a_refused_move_is_an_error_message_not_a_server_error(superuser_client, workspace):
    draft = make_campaign(workspace)
    refused = superuser_client.post(f"{CAMPAIGNS}{draft.pk}/pause/", follow=True)
    assert refused.status_code == 200
    assert shown_messages(refused) == [("error", "Pause: Cannot pause a campaign in status DRAFT.")]

    empty = make_campaign(workspace, senders=0, steps=0)
    not_ready = superuser_client.post(f"{CAMPAIGNS}{empty.pk}/activate/", follow=True)
    assert not_ready.status_code == 200
    [(level, text)] = shown_messages(not_ready)
    assert level == "error"
    assert text == (
        "Activate: The campaign is not ready to be activated. The campaign has no sender "
        "account. The campaign has no step."
    )
    assert set(Campaign.objects.values_list("status", flat=True)) == {Status.DRAFT}
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (Status.DRAFT, ["activate"]),
        (Status.ACTIVE, ["pause"]),
        (Status.PAUSED, ["activate"]),
        (Status.COMPLETED, []),
    ],
)
def test_the_page_offers_the_moves_its_status_allows(superuser_client, workspace, status, offered):
    assert buttons(page(superuser_client, make_campaign(workspace, status=status))) == offered


def test_moves_are_posts_with_csrf_and_need_the_change_permission(workspace):
    campaign = make_campaign(workspace)
    url = f"{CAMPAIGNS}{campaign.pk}/activate/"
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)

    html = client.get(change_url(campaign)).content.decode()
    assert buttons(html) == []  # nothing offered to a viewer
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 403  # no permission
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT

    superuser = Client(enforce_csrf_checks=True)
    superuser.force_login(get_user_model().objects.create_superuser("root", "r@x.io", None))
    form = superuser.get(change_url(campaign)).content.decode()
    action, csrf = re.search(
        r'<form method="post" action="([^"]+)" class="cs-post-button">'
        r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">',
        form,
    ).groups()
    assert action == url
    assert superuser.post(action, {"csrfmiddlewaretoken": csrf}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Status.ACTIVE


def test_an_unknown_campaign_redirects_with_a_message(superuser_client, workspace):
    response = superuser_client.post(
        f"{CAMPAIGNS}00000000-0000-0000-0000-000000000000/pause/", follow=True
    )
    assert response.status_code == 200
    assert "doesn\u2019t exist" in shown_messages(response)[0][1]


# --- numbers and chart ---------------------------------------------------------------------


def event(campaign: Campaign, lead: Lead, type_: str, at: dt.datetime) -> None:
    EmailEvent.objects.create(campaign=campaign, lead=lead, type=type_, occurred_at=at)


@pytest.fixture
def measured(workspace, clock) -> Campaign:
    """Today (UTC) 2 sends, 1 open, 1 click; 3 days ago 1 send, 1 reply; 40 days ago 1 send
    (outside the chart, inside the totals)."""
    campaign = make_campaign(workspace, status=Status.ACTIVE, name="Measured")
    ann, bob, cy = (make_lead(campaign, email=f"{n}@example.com") for n in ("ann", "bob", "cy"))
    now = WEDNESDAY_NOON  # the clock fixture's now
    event(campaign, ann, "SENT", now - dt.timedelta(hours=2))
    event(campaign, bob, "SENT", now - dt.timedelta(hours=1))
    event(campaign, ann, "OPENED", now - dt.timedelta(minutes=30))
    event(campaign, ann, "CLICKED", now - dt.timedelta(minutes=20))
    event(campaign, cy, "SENT", now - dt.timedelta(days=3))
    event(campaign, cy, "REPLIED", now - dt.timedelta(days=3))
    event(campaign, make_lead(campaign, email="old@example.com"), "SENT", now - dt.timedelta(40))
    return campaign


def stat(html: str, name: str) -> str:
    return unescape(re.search(rf'<dd data-stat="{name}">([^<]*)</dd>', html).group(1))


def test_the_numbers_are_the_apis_stats(superuser_client, client_all, measured):
    html = page(superuser_client, measured)
    api = client_all.get(f"/api/public/v1/campaigns/{measured.pk}").json()["stats"]

    for name in SERIES:
        assert stat(html, name) == str(api[name])
    assert [stat(html, name) for name in SERIES] == ["4", "1", "1", "1", "0", "0"]
    for name in ("open_rate", "click_rate", "reply_rate", "bounce_rate"):
        assert stat(html, name) == f"{api[name]:.1%}"
    assert stat(html, "open_rate") == "25.0%"  # 1 lead of 4 sent to
    assert "<strong>Leads (4):</strong>" in html
    assert "PENDING: 4" in html


def test_the_chart_has_an_element_per_day_and_series(superuser_client, measured):
    html = page(superuser_client, measured)
    svg = re.search(r"<svg[^>]*data-chart=\"daily\".*?</svg>", html, re.S).group(0)

    days = re.findall(r'<g class="cs-day" data-date="([\d-]+)">', svg)
    assert len(days) == 30
    assert (days[0], days[-1]) == ("2026-02-03", "2026-03-04")  # the last 30 days, today last
    groups = dict(re.findall(r'data-date="([\d-]+)">(.*?)</g>', svg, re.S))
    values = {
        day: dict(re.findall(r'data-series="(\w+)" data-value="(\d+)"', group))
        for day, group in groups.items()
    }
    assert all(list(series) == SERIES for series in values.values())
    assert values["2026-03-04"] == {
        "sent": "2", "opened": "1", "clicked": "1", "replied": "0", "bounced": "0",
        "unsubscribed": "0",
    }  # fmt: skip
    assert values["2026-03-01"]["replied"] == "1"
    assert sum(int(v["sent"]) for v in values.values()) == 3  # 40 days ago is not drawn
    assert "<title>Wed 04 Mar 2026: sent 2, opened 1, clicked 1, replied 0" in groups["2026-03-04"]
    # A legend, axis labels, and nothing fetched from anywhere.
    assert re.findall(r'data-legend="(\w+)"', svg) == SERIES
    dated = re.findall(r'text-anchor="middle">(\w{3} \d\d)</text>', svg)
    assert dated == ["Feb 07", "Feb 12", "Feb 17", "Feb 22", "Feb 27", "Mar 04"]
    assert "day (UTC)" in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in svg
    loaded = re.findall(r'<(?:script|img)[^>]* src="([^"]*)"|<link[^>]* href="([^"]*)"', html)
    assert loaded
    assert all(url.startswith("/") for pair in loaded for url in pair if url)


def test_the_chart_uses_the_campaigns_time_zone(superuser_client, workspace, clock):
    schedule = {"timezone": "Pacific/Kiritimati", "days": [1, 2, 3, 4, 5], "start_time": "09:00",
                "end_time": "17:00"}  # fmt: skip
    campaign = make_campaign(workspace, schedule=schedule)
    html = page(superuser_client, campaign)
    days = re.findall(r'<g class="cs-day" data-date="([\d-]+)">', html)
    assert days[-1] == "2026-03-05"  # noon UTC is 02:00 the next day at UTC+14
    assert "day (Pacific/Kiritimati)" in html


def test_a_new_campaign_has_no_numbers(superuser_client):
    html = superuser_client.get(f"{CAMPAIGNS}add/").content.decode()
    assert "data-chart" not in html
    assert "Totals and rates" not in html


# --- tracking ------------------------------------------------------------------------------


def test_tracking_is_two_checkboxes_saved_as_the_api_stores_it(
    superuser_client, client_all, workspace
):
    campaign = make_campaign(workspace, tracking={"opens": True, "clicks": False})
    html = page(superuser_client, campaign)
    assert re.search(r'<input type="checkbox" name="tracking" value="opens"[^>]* checked', html)
    assert re.search(r'<input type="checkbox" name="tracking" value="clicks"(?![^>]*checked)', html)
    assert "&quot;opens&quot;" not in html  # no raw JSON

    response = superuser_client.post(
        change_url(campaign), campaign_form(campaign, tracking=["clicks"])
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    campaign.refresh_from_db()
    assert campaign.tracking == {"opens": False, "clicks": True}
    api = client_all.get(f"/api/public/v1/campaigns/{campaign.pk}").json()
    assert api["tracking"] == {"opens": False, "clicks": True}
    [updated] = AuditEvent.objects.filter(action="campaign.updated")
    assert updated.extra == {"fields": ["tracking"]}

    unchanged = superuser_client.post(change_url(campaign), campaign_form(campaign))
    assert unchanged.status_code == 302
    assert AuditEvent.objects.filter(action="campaign.updated").count() == 1


def test_a_campaign_added_in_the_admin_takes_its_tracking(superuser_client, workspace):
    form = {
        "workspace": str(workspace.pk), "name": "New", "daily_limit": "50",
        "schedule_timezone": "UTC", "schedule_days": ["1"], "schedule_start_time": "09:00",
        "schedule_end_time": "17:00", "stop_on_reply": "on", "tracking": ["opens", "clicks"],
        "steps-TOTAL_FORMS": "0", "steps-INITIAL_FORMS": "0", "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = superuser_client.post(f"{CAMPAIGNS}add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Campaign.objects.get(name="New").tracking == {"opens": True, "clicks": True}


# --- a step's preview and test send --------------------------------------------------------


def try_controls(html: str) -> dict[str, list[str]]:
    """form id → the names of the controls that post to it."""
    found: dict[str, list[str]] = {}
    for tag in re.findall(r"<(?:select|input|button)[^>]* form=\"cs-[^>]*>", html):
        form_id = re.search(r'form="([^"]+)"', tag).group(1)
        name = re.search(r'name="([^"]+)"', tag) or re.search(r'data-action="([^"]+)"', tag)
        found.setdefault(form_id, []).append(name.group(1))
    return found


def test_the_page_offers_a_preview_and_a_test_send(superuser_client, workspace):
    campaign = make_campaign(workspace, steps=2)
    html = page(superuser_client, campaign)
    assert try_controls(html) == {
        "cs-preview": ["step", "lead", "preview"],
        "cs-test": ["step", "to", "test"],
    }
    assert f'<form id="cs-preview" method="get" action="{CAMPAIGNS}{campaign.pk}/preview/">' in html
    assert re.search(
        rf'<form id="cs-test" method="post" action="{CAMPAIGNS}{campaign.pk}/test/">'
        r'<input type="hidden" name="csrfmiddlewaretoken"',
        html,
    )
    # Outside the change form: saving the campaign posts none of them.
    change_form = html.split('id="campaign_form"')[1].split("</form>")[0]
    assert 'id="cs-test"' not in change_form
    assert re.findall(r'<option value="(\d)">', html.split('id="cs-test-step"')[1])[:2] == [
        "1",
        "2",
    ]


def test_the_preview_renders_a_step_for_a_lead(superuser_client, workspace):
    campaign = make_campaign(workspace)
    campaign.steps.update(subject="Hello {{first_name|there}}", body="Hi {{firstname}} {{ a b }}")
    make_lead(campaign, email="ann@example.com", first_name="Ann")
    make_lead(campaign, email="bob@example.com", first_name="Bob")
    url = f"{CAMPAIGNS}{campaign.pk}/preview/"

    html = unescape(superuser_client.get(url, {"step": "1"}).content.decode())

    assert re.search(r'data-header="Subject">Hello Ann<', html)  # the oldest lead
    assert re.search(r'data-header="To">ann@example.com<', html)
    body = re.search(r'<pre class="cs-body" data-preview="body">(.*?)</pre>', html, re.S).group(1)
    assert body.startswith("Hi  {{ a b }}")  # an unknown placeholder renders empty
    assert re.search(r'data-problem="unknown">.*<code>\{\{firstname\}\}</code>', html)
    assert re.search(r'data-problem="invalid">.*<code>\{\{ a b \}\}</code>', html)
    bob = unescape(
        superuser_client.get(url, {"step": "1", "lead": "Bob@Example.com"}).content.decode()
    )
    assert re.search(r'data-header="Subject">Hello Bob<', bob)
    assert not AuditEvent.objects.exists()  # a preview writes nothing


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"step": "3"}, "Preview: Must be a step of this campaign: 1 to 1."),
        ({"step": "x"}, "Step: enter a whole number."),
        (
            {"step": "1", "lead": "nobody@example.com"},
            "No lead nobody@example.com in this campaign.",
        ),
    ],
)
def test_a_preview_that_cannot_be_made_says_why(superuser_client, workspace, query, message):
    campaign = make_campaign(workspace)
    response = superuser_client.get(f"{CAMPAIGNS}{campaign.pk}/preview/", query, follow=True)
    assert response.redirect_chain == [(change_url(campaign), 302)]
    assert shown_messages(response) == [("error", message)]


@pytest.mark.usefixtures("delivery_settings")
def test_send_test_sends_the_step_through_a_real_server(superuser_client, client_all, sink, clock):
    account_id = create_account(client_all, sink)
    campaign_id = create_campaign(client_all, [account_id])
    campaign = Campaign.objects.get(pk=campaign_id)
    url = f"{CAMPAIGNS}{campaign_id}/test/"
    assert superuser_client.get(url).status_code == 405

    sent = superuser_client.post(url, {"step": "1", "to": " Me@Example.com "}, follow=True)

    assert sent.redirect_chain == [(change_url(campaign), 302)]
    assert shown_messages(sent) == [("success", "Step 1 was sent to Me@Example.com as a test.")]
    [received] = sink.to("me@example.com")
    assert received.message["Subject"] == "[Test] Hello there"
    [audited] = AuditEvent.objects.filter(action="campaign.test_sent")
    assert (audited.actor_type, audited.actor, audited.extra["sent"]) == (
        "admin_user",
        "root",
        True,
    )

    sink.reject.add("no@example.com")
    refused = superuser_client.post(url, {"step": "1", "to": "no@example.com"}, follow=True)
    [(level, text)] = shown_messages(refused)
    assert level == "error"
    assert text.startswith("The test of step 1 was not sent: ")
    assert "550" in text

    invalid = superuser_client.post(url, {"step": "2", "to": "not an address"}, follow=True)
    [(level, text)] = shown_messages(invalid)
    assert level == "error"
    assert text.startswith("Send test: Must be a step of this campaign: 1 to 1.")
    assert len(sink.received) == 1


@pytest.mark.usefixtures("delivery_settings")
def test_send_test_while_the_workspace_runs_its_limit_is_a_message(
    superuser_client, client_all, workspace, sink, clock
):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    held = [
        slots.hold(workspace, "connection", limit=settings.CONNECTION_CHECKS_PER_WORKSPACE,
                   seconds=60)
        for _ in range(settings.CONNECTION_CHECKS_PER_WORKSPACE)
    ]  # fmt: skip
    for slot in held:
        slot.__enter__()
    try:
        response = superuser_client.post(
            f"{CAMPAIGNS}{campaign_id}/test/", {"step": "1", "to": "me@example.com"}, follow=True
        )
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    [(level, text)] = shown_messages(response)
    assert level == "warning"
    assert text.startswith("Two checks or test sends are already running")
    assert sink.received == []


def test_send_test_needs_the_change_permission(workspace):
    campaign = make_campaign(workspace)
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client()
    client.force_login(viewer)

    html = client.get(change_url(campaign)).content.decode()
    assert try_controls(html) == {"cs-preview": ["step", "lead", "preview"]}
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/preview/", {"step": "1"}).status_code == 200
    response = client.post(f"{CAMPAIGNS}{campaign.pk}/test/", {"step": "1", "to": "a@b.io"})
    assert response.status_code == 403
