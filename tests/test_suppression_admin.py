"""The suppression list in the admin: every workspace's suppressed addresses, filtered by
reason and workspace, searchable, never added or edited by hand; deleting lifts one."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from engagement.models import Suppression

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
        Suppression.objects.create(workspace=ws, email=email, reason=reason, created_at=now)
        for ws, email, reason in [
            (workspace, "gone@example.com", "BOUNCED"),
            (workspace, "stop@example.com", "UNSUBSCRIBED"),
            (other_workspace, "stop@example.com", "UNSUBSCRIBED"),
        ]
    ]


def listed(response) -> int:
    assert response.status_code == 200
    return response.context["cl"].result_count


def test_the_list_shows_every_suppression_with_filters_and_search(staff, suppressions, workspace):
    assert listed(staff.get(CHANGELIST)) == 3
    assert listed(staff.get(CHANGELIST, {"reason__exact": "BOUNCED"})) == 1
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
