"""One door per change: every change is made through each of its doors (the API, the admin,
a management command) and must leave the same rows behind — lead statuses and next_send_at,
the campaign's status, the audit row (but for who made it) and the stats. Each scenario also
states what those rows must be, so a door that skipped a step of the change fails, and so
does an action that every door gets equally wrong.

The first row is the case found by a new user: `manage.py import_leads` into an ACTIVE
campaign left the new leads unscheduled and a suppressed address PENDING."""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from campaigns.models import Campaign
from delivery.actions import do_suppress
from engagement.models import Suppression
from leads.models import Lead
from tests.admin_forms import campaign_form, schedule_fields
from tests.delivery_support import (
    ALWAYS,
    WEDNESDAY_NOON,
    activate,
    add_leads,
    create_account,
    create_campaign,
    pause,
    run_engine,
)
from tests.import_reports import upload
from tests.urls import api_url
from workspaces.models import Workspace

pytestmark = pytest.mark.usefixtures("delivery_settings", "clock")

TWO_STEPS = [
    {"subject": "Hello", "body": "Hi!", "delay_days": 0},
    {"subject": "Again", "body": "Bumping this up.", "delay_days": 2},
]
# Opens at 14:00 UTC on Wednesdays only; the frozen clock says Wednesday noon.
AFTERNOONS = {**ALWAYS, "days": [3], "start_time": "14:00", "end_time": "18:00"}


@dataclass
class World:
    api: Any  # an APIClient with every scope
    admin: Any  # a logged-in superuser's client
    workspace: Any
    campaign_id: str

    @property
    def campaign(self) -> Campaign:
        return Campaign.objects.get(pk=self.campaign_id)

    def lead(self, email: str) -> Lead:
        return Lead.objects.get(campaign_id=self.campaign_id, email=email)


def snapshot(world: World, since: int) -> dict:
    """What a change leaves behind: leads, campaign, audit rows after `since` (without their
    actor), suppressions and the stats the API shows."""
    leads = Lead.objects.filter(workspace=world.workspace).order_by("email")
    campaign = Campaign.objects.filter(pk=world.campaign_id).first()
    audit = AuditEvent.objects.filter(workspace=world.workspace, pk__gt=since).order_by("pk")
    stats = None
    if campaign is not None:
        response = world.api.get(api_url(f"campaigns/{world.campaign_id}"))
        assert response.status_code == 200
        stats = response.json()["stats"]
    return {
        "leads": [(lead.email, lead.status, lead.next_send_at) for lead in leads],
        "campaign": None if campaign is None else (campaign.status, campaign.paused_reason),
        "audit": [(row.action, row.object_type, _comparable(row.extra)) for row in audit],
        "suppressed": sorted(
            Suppression.objects.filter(workspace=world.workspace).values_list("email", "reason")
        ),
        "stats": stats,
    }


def _comparable(extra: dict) -> dict:
    # Audit rows name the objects they touch (ids differ from one world to the next) and an
    # import its file's format (a door's own choice).
    return {k: v for k, v in extra.items() if not k.endswith("_id") and k != "source"}


def actors(world: World, since: int) -> set[str]:
    rows = AuditEvent.objects.filter(workspace=world.workspace, pk__gt=since)
    return set(rows.values_list("actor_type", flat=True))


# Worlds: the state each change starts from, built through the API.


def active_campaign_with_a_suppressed_address(world: World) -> None:
    do_suppress(world.workspace, "gone@example.com", Suppression.Reason.UNSUBSCRIBED)
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])
    activate(world.api, world.campaign_id)


def completed_campaign(world: World) -> None:
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])
    activate(world.api, world.campaign_id)
    run_engine()
    assert world.campaign.status == Campaign.Status.COMPLETED


def active_campaign_with_one_pending_lead_left(world: World) -> None:
    completed_campaign(world)  # `first` is COMPLETED
    # Reopened: `last` is all the campaign has left to do.
    add_leads(world.api, world.campaign_id, [{"email": "last@example.com"}])
    assert world.campaign.status == Campaign.Status.ACTIVE


def active_campaign(world: World) -> None:
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])
    activate(world.api, world.campaign_id)


def active_campaign_waiting_for_a_follow_up(world: World) -> None:
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])
    activate(world.api, world.campaign_id)
    run_engine()


def paused_campaign(world: World) -> None:
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])
    activate(world.api, world.campaign_id)
    pause(world.api, world.campaign_id)


def draft_campaign(world: World) -> None:
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])


def a_bounced_address(world: World) -> None:
    do_suppress(world.workspace, "bounced@example.com", Suppression.Reason.BOUNCED)
    add_leads(world.api, world.campaign_id, [{"email": "first@example.com"}])


# Doors. Each makes the same change; `expect` says what it must leave.

NEW_LEADS = [{"email": "new@example.com"}, {"email": "gone@example.com"}]


def _csv(leads: list[dict]) -> bytes:
    return ("email\n" + "".join(f"{lead['email']}\n" for lead in leads)).encode()


def import_by_api_csv(world: World, leads: list[dict]) -> None:
    response = upload(world.api, world.campaign_id, _csv(leads))
    assert response.status_code == 201, response.content


def import_by_api_json(world: World, leads: list[dict]) -> None:
    response = world.api.post(
        api_url("leads/import"), {"campaign_id": world.campaign_id, "leads": leads}, format="json"
    )
    assert response.status_code == 201, response.content


def import_by_command(world: World, leads: list[dict], tmp_path: Any) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(_csv(leads))
    out = io.StringIO()
    call_command(
        "import_leads", str(path), campaign=world.campaign_id, stdout=out, stderr=io.StringIO()
    )
    assert json.loads(out.getvalue())["created"] == len(leads)


def add_by_api(world: World, email: str) -> None:
    response = world.api.post(
        api_url("leads"), {"campaign_id": world.campaign_id, "email": email}, format="json"
    )
    assert response.status_code == 201, response.content


def add_by_admin(world: World, email: str) -> None:
    response = world.admin.post(
        "/admin/leads/lead/add/",
        {"campaign": world.campaign_id, "email": email, "custom_fields": "{}", "_save": "Save"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def remove_by_api(world: World, email: str) -> None:
    response = world.api.delete(api_url(f"leads/{world.lead(email).pk}"))
    assert response.status_code == 204, response.content


def remove_by_admin(world: World, email: str) -> None:
    lead = world.lead(email)
    response = world.admin.post(f"/admin/leads/lead/{lead.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]


def remove_by_admin_bulk_action(world: World, email: str) -> None:
    lead = world.lead(email)
    response = world.admin.post(
        "/admin/leads/lead/",
        {"action": "delete_selected", "_selected_action": [str(lead.pk)], "post": "yes"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def reschedule_by_api(world: World) -> None:
    response = world.api.patch(
        api_url(f"campaigns/{world.campaign_id}"),
        {"schedule": AFTERNOONS, "daily_limit": 500},
        format="json",
    )
    assert response.status_code == 200, response.content


def reschedule_by_admin(world: World) -> None:
    form = campaign_form(world.campaign, daily_limit="500", **schedule_fields(AFTERNOONS))
    response = world.admin.post(f"/admin/campaigns/campaign/{world.campaign_id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]


def delete_by_api(world: World) -> None:
    response = world.api.delete(api_url(f"campaigns/{world.campaign_id}"))
    assert response.status_code == 204, response.content


def delete_by_admin(world: World) -> None:
    url = f"/admin/campaigns/campaign/{world.campaign_id}/delete/"
    response = world.admin.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]


def lift_by_admin(world: World) -> None:
    suppression = Suppression.objects.get(workspace=world.workspace)
    url = f"/admin/engagement/suppression/{suppression.pk}/delete/"
    response = world.admin.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]


def lift_by_admin_bulk_action(world: World) -> None:
    suppression = Suppression.objects.get(workspace=world.workspace)
    response = world.admin.post(
        "/admin/engagement/suppression/",
        {"action": "delete_selected", "_selected_action": [str(suppression.pk)], "post": "yes"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def activate_by_api(world: World) -> None:
    activate(world.api, world.campaign_id)


def pause_by_api(world: World) -> None:
    pause(world.api, world.campaign_id)


@dataclass(frozen=True)
class Change:
    name: str
    steps: list[dict]
    world: Callable[[World], None]
    doors: dict[str, Callable[..., None]]
    expect: Callable[[dict], None]


def expect_imported_and_scheduled(after: dict) -> None:
    assert after["leads"] == [
        ("first@example.com", "PENDING", WEDNESDAY_NOON),
        ("gone@example.com", "UNSUBSCRIBED", None),
        ("new@example.com", "PENDING", WEDNESDAY_NOON),
    ]
    assert after["campaign"] == ("ACTIVE", None)
    assert [row[:2] for row in after["audit"]] == [("leads.imported", "campaign")]
    assert after["audit"][0][2]["created"] == 2


def expect_reopened(after: dict) -> None:
    assert ("gone@example.com", "PENDING", WEDNESDAY_NOON) in after["leads"]
    assert after["campaign"] == ("ACTIVE", None)
    assert [row[:2] for row in after["audit"]] == [
        ("leads.imported", "campaign"),
        ("campaign.reactivated", "campaign"),
    ]


def expect_one_added(after: dict) -> None:
    assert after["leads"] == [
        ("first@example.com", "PENDING", WEDNESDAY_NOON),
        ("gone@example.com", "UNSUBSCRIBED", None),
    ]
    assert [row[:2] for row in after["audit"]] == [("lead.created", "lead")]


def expect_completed_by_removal(after: dict) -> None:
    assert after["leads"] == [("first@example.com", "COMPLETED", None)]
    assert after["campaign"] == ("COMPLETED", None)
    assert [row[:2] for row in after["audit"]] == [
        ("lead.deleted", "lead"),
        ("campaign.completed", "campaign"),
    ]


def expect_rescheduled(after: dict) -> None:
    two_pm = WEDNESDAY_NOON.replace(hour=14)
    # The follow-up was due in two days, a Friday; the next window is the Wednesday after.
    next_wednesday = two_pm.replace(day=WEDNESDAY_NOON.day + 7)
    assert after["leads"] == [("first@example.com", "CONTACTED", next_wednesday)]
    assert after["campaign"] == ("ACTIVE", None)
    assert after["audit"] == [
        ("campaign.updated", "campaign", {"fields": after["audit"][0][2]["fields"]})
    ]
    assert {"schedule", "daily_limit"} <= set(after["audit"][0][2]["fields"])
    assert after["stats"]["sent"] == 1


def expect_deleted(after: dict) -> None:
    assert after["leads"] == []
    assert after["campaign"] is None
    assert [row[:2] for row in after["audit"]] == [("campaign.deleted", "campaign")]


def expect_lifted(after: dict) -> None:
    assert after["suppressed"] == []
    assert after["audit"] == [
        ("suppression.lifted", "suppression", {"email": "bounced@example.com", "reason": "BOUNCED"})
    ]


def expect_activated(after: dict) -> None:
    assert after["leads"] == [("first@example.com", "PENDING", WEDNESDAY_NOON)]
    assert after["campaign"] == ("ACTIVE", None)
    assert [row[:2] for row in after["audit"]] == [("campaign.activated", "campaign")]


def expect_paused(after: dict) -> None:
    assert after["leads"] == [("first@example.com", "PENDING", None)]
    assert after["campaign"] == ("PAUSED", "user")
    assert [row[:2] for row in after["audit"]] == [("campaign.paused", "campaign")]


CHANGES = [
    Change(
        "import leads into an ACTIVE campaign",
        TWO_STEPS,
        active_campaign_with_a_suppressed_address,
        {
            "api_csv": lambda w, tmp: import_by_api_csv(w, NEW_LEADS),
            "api_json": lambda w, tmp: import_by_api_json(w, NEW_LEADS),
            "command": lambda w, tmp: import_by_command(w, NEW_LEADS, tmp),
        },
        expect_imported_and_scheduled,
    ),
    Change(
        "import leads into a COMPLETED campaign",
        TWO_STEPS[:1],
        completed_campaign,
        {
            "api_csv": lambda w, tmp: import_by_api_csv(w, NEW_LEADS[1:]),
            "api_json": lambda w, tmp: import_by_api_json(w, NEW_LEADS[1:]),
            "command": lambda w, tmp: import_by_command(w, NEW_LEADS[1:], tmp),
        },
        expect_reopened,
    ),
    Change(
        "add a lead whose address is suppressed",
        TWO_STEPS,
        active_campaign_with_a_suppressed_address,
        {
            "api": lambda w, tmp: add_by_api(w, "gone@example.com"),
            "admin": lambda w, tmp: add_by_admin(w, "gone@example.com"),
        },
        expect_one_added,
    ),
    Change(
        "remove the last lead with anything left to send",
        TWO_STEPS[:1],
        active_campaign_with_one_pending_lead_left,
        {
            "api": lambda w, tmp: remove_by_api(w, "last@example.com"),
            "admin": lambda w, tmp: remove_by_admin(w, "last@example.com"),
            "admin_bulk": lambda w, tmp: remove_by_admin_bulk_action(w, "last@example.com"),
        },
        expect_completed_by_removal,
    ),
    Change(
        "give an ACTIVE campaign a new schedule",
        TWO_STEPS,
        active_campaign_waiting_for_a_follow_up,
        {
            "api": lambda w, tmp: reschedule_by_api(w),
            "admin": lambda w, tmp: reschedule_by_admin(w),
        },
        expect_rescheduled,
    ),
    Change(
        "delete a PAUSED campaign",
        TWO_STEPS,
        paused_campaign,
        {
            "api": lambda w, tmp: delete_by_api(w),
            "admin": lambda w, tmp: delete_by_admin(w),
        },
        expect_deleted,
    ),
    Change(
        "lift a suppression",
        TWO_STEPS,
        a_bounced_address,
        {
            "admin": lambda w, tmp: lift_by_admin(w),
            "admin_bulk": lambda w, tmp: lift_by_admin_bulk_action(w),
        },
        expect_lifted,
    ),
    Change(
        "activate a DRAFT campaign",
        TWO_STEPS,
        draft_campaign,
        {"api": lambda w, tmp: activate_by_api(w)},
        expect_activated,
    ),
    Change(
        "pause an ACTIVE campaign",
        TWO_STEPS,
        active_campaign,
        {"api": lambda w, tmp: pause_by_api(w)},
        expect_paused,
    ),
]

ACTOR_OF_DOOR = {"api": "api_key", "admin": "admin_user", "command": "command"}


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_door_of_a_change_leaves_the_same_rows(
    change, make_client, superuser_client, sink, tmp_path
):
    results = {}
    for door, act in change.doors.items():
        # A world per door, each in its own workspace: the rows of one cannot mask another's.
        workspace = Workspace.objects.create(slug=f"door-{door}".replace("_", "-"), name=door)
        api = make_client(ws=workspace)
        campaign_id = create_campaign(api, [create_account(api, sink)], change.steps)
        world = World(api, superuser_client, workspace, campaign_id)
        change.world(world)
        since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

        (tmp_path / door).mkdir()
        act(world, tmp_path / door)

        after = snapshot(world, since)
        change.expect(after)
        who = actors(world, since) - {"engine"}
        assert who <= {ACTOR_OF_DOOR[door.split("_")[0]]}, (door, who)
        results[door] = after
    first = next(iter(results.values()))
    for door, after in results.items():
        assert after == first, door
