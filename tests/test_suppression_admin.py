"""The suppression list in the admin: every workspace's suppressed addresses with their reason
and source (the unsubscribe link, an SMTP refusal, a bounce report, each set where it is
written), filtered by reason, source and workspace, searchable, never added or edited by hand;
deleting lifts one."""

import importlib
import re
from html import unescape

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from delivery.models import Message
from engagement.models import Suppression
from inbound import dsn, services
from tests.delivery_support import activate, add_lead, create_account, create_campaign, run_engine
from tests.tracking_support import links_in, parts, send_campaign

CHANGELIST = "/admin/engagement/suppression/"


@pytest.fixture
def staff(db) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def suppressions(workspace, other_workspace) -> list[Suppression]:
    now = timezone.now()
    return [
        Suppression.objects.create(
            workspace=ws, email=email, reason=reason, source=source, created_at=now
        )
        for ws, email, reason, source in [
            (workspace, "gone@example.com", "BOUNCED", "smtp_bounce"),
            (workspace, "stop@example.com", "UNSUBSCRIBED", "unsubscribe_link"),
            (other_workspace, "stop@example.com", "UNSUBSCRIBED", "unsubscribe_link"),
        ]
    ]


def listed(response) -> int:
    assert response.status_code == 200
    return response.context["cl"].result_count


def test_the_list_shows_every_suppression_with_filters_and_search(staff, suppressions, workspace):
    assert listed(staff.get(CHANGELIST)) == 3
    assert listed(staff.get(CHANGELIST, {"reason__exact": "BOUNCED"})) == 1
    assert listed(staff.get(CHANGELIST, {"source__exact": "unsubscribe_link"})) == 2
    assert listed(staff.get(CHANGELIST, {"workspace__id__exact": workspace.pk})) == 2
    assert listed(staff.get(CHANGELIST, {"q": "stop@"})) == 2


def test_suppressions_are_not_added_or_edited_by_hand(staff, suppressions):
    row = suppressions[0]

    assert staff.get(CHANGELIST + "add/").status_code == 403
    response = staff.post(
        f"{CHANGELIST}{row.pk}/change/", {"email": "other@example.com", "reason": "UNSUBSCRIBED"}
    )

    assert response.status_code == 403
    row.refresh_from_db()
    assert (row.email, row.reason) == ("gone@example.com", "BOUNCED")
    assert staff.get(f"{CHANGELIST}{row.pk}/change/").status_code == 200  # view only


def test_deleting_one_lifts_it(staff, suppressions):
    row = suppressions[0]

    response = staff.post(f"{CHANGELIST}{row.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Suppression.objects.filter(pk=row.pk).exists()
    # Who lifted it, in the audit trail.
    [event] = AuditEvent.objects.filter(action="suppression.lifted")
    assert (event.actor_type, event.object_type, event.object_id) == (
        "admin_user",
        "suppression",
        str(row.pk),
    )
    assert (event.workspace_id, event.extra["email"]) == (row.workspace_id, row.email)


def shown(client: Client) -> dict[str, tuple[str, str]]:
    """email → (reason, source) as the list shows them."""
    html = client.get(CHANGELIST).content.decode()
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = dict(re.findall(r'class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.S))
        email = unescape(re.sub(r"<[^>]+>", "", cells["email"]))
        found[email] = (unescape(cells["reason"]), unescape(cells["source"]))
    return found


def test_the_list_and_the_page_show_reason_and_source(staff, suppressions):
    assert shown(staff) == {  # stop@ twice, in two workspaces
        "gone@example.com": ("Bounced", "refused at sending (SMTP)"),
        "stop@example.com": ("Unsubscribed", "unsubscribe link"),
    }
    page = staff.get(f"{CHANGELIST}{suppressions[0].pk}/change/").content.decode()
    assert "refused at sending (SMTP)" in page


@pytest.mark.usefixtures("delivery_settings")
def test_sources_are_set_where_suppressions_are_written(staff, client_all, sink, clock):
    # An unsubscribe through the real link (a POST, as its button or a one-click client sends).
    send_campaign(client_all, sink, emails=("ann@example.com",))
    [link] = links_in(parts(sink.to("ann@example.com")[0])["text/plain"], "u")
    assert Client().post(link).status_code == 200
    # A bounce at RCPT TO, through the real engine.
    account_id = create_account(client_all, sink, email="bob-sender@example.com")
    campaign_id = create_campaign(client_all, [account_id], name="Bounces")
    add_lead(client_all, campaign_id, "bob@example.com")
    add_lead(client_all, campaign_id, "cy@example.com")
    sink.reject.add("bob@example.com")
    activate(client_all, campaign_id)
    run_engine()
    # A bounce report read from the inbox after a send.
    sent = Message.objects.get(lead__email="cy@example.com")
    failure = dsn.Failure("cy@example.com", dsn.HARD, "5.1.1", "user unknown")
    assert services.record_report(services.sent_message(sent.pk), failure, suppress=True)

    stored = dict(Suppression.objects.values_list("email", "source"))
    assert stored == {
        "ann@example.com": "unsubscribe_link",
        "bob@example.com": "smtp_bounce",
        "cy@example.com": "bounce_report",
    }
    assert shown(staff) == {
        "ann@example.com": ("Unsubscribed", "unsubscribe link"),
        "bob@example.com": ("Bounced", "refused at sending (SMTP)"),
        "cy@example.com": ("Bounced", "bounce report (inbox)"),
    }


def test_the_migration_names_the_source_of_earlier_rows(workspace):
    migration = importlib.import_module("engagement.migrations.0004_suppression_source")
    now = timezone.now()
    for email, reason in [("a@example.com", "UNSUBSCRIBED"), ("b@example.com", "BOUNCED")]:
        Suppression.objects.create(workspace=workspace, email=email, reason=reason, created_at=now)

    migration.backfill_sources(apps, None)

    assert dict(Suppression.objects.values_list("email", "source")) == {
        "a@example.com": "unsubscribe_link",
        "b@example.com": "unknown",
    }
