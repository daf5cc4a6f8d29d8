"""Create, read, list, update and delete campaigns over HTTP, and workspace isolation."""

import uuid

import pytest

from campaigns.models import Campaign, CampaignStep, default_schedule
from tests.factories import make_campaign, make_sender, stored
from tests.request_bodies import campaign_body
from tests.urls import campaign_url

ZERO_STATS = {
    "leads_total": 0,
    "leads_by_status": {
        "PENDING": 0,
        "CONTACTED": 0,
        "REPLIED": 0,
        "BOUNCED": 0,
        "UNSUBSCRIBED": 0,
        "COMPLETED": 0,
        "FAILED": 0,
    },
    "sent": 0,
    "opened": 0,
    "clicked": 0,
    "replied": 0,
    "bounced": 0,
    "unsubscribed": 0,
    "open_rate": 0.0,
    "click_rate": 0.0,
    "reply_rate": 0.0,
    "bounce_rate": 0.0,
}


def test_create_answers_201_in_draft_with_everything_stored(client_all, workspace):
    senders = sorted((make_sender(workspace) for _ in range(2)), key=lambda s: str(s.pk))
    body = campaign_body(sender_account_ids=[str(senders[1].pk), str(senders[0].pk)])

    response = client_all.post(campaign_url(), body)

    assert response.status_code == 201, response.content
    data = response.json()
    campaign = Campaign.objects.get()
    assert data == {
        "id": str(campaign.pk),
        "name": "Spring outreach",
        "status": "DRAFT",
        "sender_account_ids": [str(s.pk) for s in senders],
        "daily_limit": 120,
        "schedule": body["schedule"],
        "steps": body["steps"],
        "stop_on_reply": False,
        "include_unsubscribe_link": True,
        "tracking": {"opens": False, "clicks": False},
        "max_bounce_rate": 0.05,
        "paused_reason": None,
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
        "stats": ZERO_STATS,
    }
    assert data["created_at"].endswith("Z")
    assert campaign.workspace == workspace
    assert stored(campaign) | {"updated_at": None} == {
        "name": "Spring outreach",
        "status": "DRAFT",
        "daily_limit": 120,
        "schedule": body["schedule"],
        "stop_on_reply": False,
        "sender_account_ids": [str(s.pk) for s in senders],
        "steps": [
            {"position": 1, "subject": "Hello", "body": "First email", "delay_days": 0},
            {"position": 2, "subject": "Following up", "body": "Second email", "delay_days": 3},
        ],
        "updated_at": None,
    }


def test_create_with_only_a_name_takes_the_defaults(client_all):
    response = client_all.post(campaign_url(), {"name": "Minimal"}, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {k: data[k] for k in ("status", "sender_account_ids", "daily_limit", "schedule")} == {
        "status": "DRAFT",
        "sender_account_ids": [],
        "daily_limit": 50,
        "schedule": default_schedule(),
    }
    assert data["steps"] == []
    assert data["stop_on_reply"] is True
    assert Campaign.objects.get().schedule == default_schedule()


def test_the_workspace_cannot_be_chosen_in_the_body(client_all, other_workspace):
    response = client_all.post(
        campaign_url(), {"name": "x", "workspace": str(other_workspace.pk)}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"workspace": ["Unknown field."]}
    assert not Campaign.objects.exists()


def test_retrieve_includes_stats_and_accepts_a_trailing_slash(client_all, workspace):
    campaign = make_campaign(workspace, senders=2, steps=2)

    response = client_all.get(campaign_url(campaign) + "/")

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == str(campaign.pk)
    assert data["stats"] == ZERO_STATS
    assert data["steps"] == [
        {"subject": "S1", "body": "B1", "delay_days": 0},
        {"subject": "S2", "body": "B2", "delay_days": 0},
    ]
    assert len(data["sender_account_ids"]) == 2
    assert client_all.get(campaign_url(campaign)).json() == data


def test_unknown_or_malformed_ids_are_404(client_all):
    assert client_all.get(campaign_url(str(uuid.uuid4()))).json() == {"detail": "Not found."}
    assert client_all.get(campaign_url("not-a-uuid")).status_code == 404
    assert client_all.post(campaign_url("not-a-uuid", "pause")).status_code == 404


def test_list_is_newest_first_without_stats(client_all, workspace):
    first, second = make_campaign(workspace), make_campaign(workspace)

    response = client_all.get(campaign_url())

    assert response.status_code == 200
    data = response.json()
    assert data["next"] is None
    assert data["previous"] is None
    assert [c["id"] for c in data["results"]] == [str(second.pk), str(first.pk)]
    assert "stats" not in data["results"][0]
    assert data["results"][1] == {
        k: v for k, v in client_all.get(campaign_url(first)).json().items() if k != "stats"
    }


def test_list_filters_by_status(client_all, workspace):
    by_status = {s: make_campaign(workspace, status=s) for s in Campaign.Status.values}

    for status, campaign in by_status.items():
        response = client_all.get(campaign_url(), {"status": status})
        assert response.status_code == 200
        assert [c["id"] for c in response.json()["results"]] == [str(campaign.pk)]
    assert len(client_all.get(campaign_url()).json()["results"]) == 4


def test_list_refuses_an_unknown_status(client_all, workspace):
    make_campaign(workspace)

    response = client_all.get(campaign_url(), {"status": "RUNNING"})

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_status_query_does_not_filter_a_single_campaign(client_all, workspace):
    campaign = make_campaign(workspace, status="ACTIVE")

    assert client_all.get(campaign_url(campaign), {"status": "PAUSED"}).status_code == 200


def test_list_paginates_with_a_cursor(client_all, workspace):
    campaigns = [make_campaign(workspace) for _ in range(5)]
    newest_first = [str(c.pk) for c in reversed(campaigns)]

    page1 = client_all.get(campaign_url(), {"limit": 2}).json()
    page2 = client_all.get(page1["next"]).json()
    page3 = client_all.get(page2["next"]).json()
    back = client_all.get(page2["previous"]).json()

    assert [c["id"] for c in page1["results"]] == newest_first[:2]
    assert [c["id"] for c in page2["results"]] == newest_first[2:4]
    assert [c["id"] for c in page3["results"]] == newest_first[4:]
    assert page1["previous"] is None
    assert page3["next"] is None
    assert [c["id"] for c in back["results"]] == newest_first[:2]


def test_list_pagination_is_stable_under_inserts(client_all, workspace):
    campaigns = [make_campaign(workspace) for _ in range(3)]

    page1 = client_all.get(campaign_url(), {"limit": 2}).json()
    make_campaign(workspace)
    page2 = client_all.get(page1["next"]).json()

    assert [c["id"] for c in page2["results"]] == [str(campaigns[0].pk)]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "abc"}, "limit"),
     ({"cursor": "garbage"}, "cursor")],
)  # fmt: skip
def test_list_refuses_bad_pagination(client_all, workspace, params, field):
    make_campaign(workspace)

    response = client_all.get(campaign_url(), params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_list_accepts_limits_1_and_100(client_all, workspace):
    make_campaign(workspace)
    make_campaign(workspace)

    assert len(client_all.get(campaign_url(), {"limit": 1}).json()["results"]) == 1
    assert len(client_all.get(campaign_url(), {"limit": 100}).json()["results"]) == 2


def test_list_shows_only_the_keys_workspace(client_all, workspace, other_workspace):
    mine = make_campaign(workspace)
    make_campaign(other_workspace)

    results = client_all.get(campaign_url()).json()["results"]

    assert [c["id"] for c in results] == [str(mine.pk)]


def test_patch_changes_only_the_fields_sent(client_all, workspace):
    campaign = make_campaign(workspace, daily_limit=70)
    before = stored(campaign)

    response = client_all.patch(campaign_url(campaign), {"name": "Renamed"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    assert response.json()["daily_limit"] == 70
    after = stored(campaign)
    assert after["updated_at"] > before["updated_at"]
    assert {**before, "name": "Renamed", "updated_at": None} == {**after, "updated_at": None}


def test_patch_steps_replaces_the_list_keeping_step_rows_by_position(client_all, workspace):
    campaign = make_campaign(workspace, steps=3)
    first_step = CampaignStep.objects.get(campaign=campaign, position=1)
    new_steps = [
        {"subject": "New 1", "body": "Body 1", "delay_days": 0},
        {"subject": "New 2", "body": "Body 2", "delay_days": 5},
    ]

    response = client_all.patch(campaign_url(campaign), {"steps": new_steps}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["steps"] == new_steps
    assert stored(campaign)["steps"] == [
        {"position": 1, "subject": "New 1", "body": "Body 1", "delay_days": 0},
        {"position": 2, "subject": "New 2", "body": "Body 2", "delay_days": 5},
    ]
    assert CampaignStep.objects.get(campaign=campaign, position=1).pk == first_step.pk


def test_patch_sender_accounts_replaces_the_set(client_all, workspace):
    campaign = make_campaign(workspace, senders=2)
    new = make_sender(workspace)

    response = client_all.patch(
        campaign_url(campaign), {"sender_account_ids": [str(new.pk)]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["sender_account_ids"] == [str(new.pk)]
    assert stored(campaign)["sender_account_ids"] == [str(new.pk)]


def test_put_replaces_every_field_and_omitted_ones_take_defaults(client_all, workspace):
    campaign = make_campaign(workspace, steps=2, daily_limit=99, stop_on_reply=False)

    response = client_all.put(campaign_url(campaign), {"name": "Replaced"}, format="json")

    assert response.status_code == 200, response.content
    after = stored(campaign)
    assert {k: after[k] for k in after if k != "updated_at"} == {
        "name": "Replaced",
        "status": "DRAFT",
        "daily_limit": 50,
        "schedule": default_schedule(),
        "stop_on_reply": True,
        "sender_account_ids": [],
        "steps": [],
    }


def test_put_with_a_full_body(client_all, workspace):
    campaign = make_campaign(workspace)
    sender = make_sender(workspace)
    body = campaign_body(sender_account_ids=[str(sender.pk)])

    response = client_all.put(campaign_url(campaign), body, format="json")

    assert response.status_code == 200
    data = response.json()
    assert {k: data[k] for k in body} == body
    assert stored(campaign)["schedule"] == body["schedule"]


def test_put_needs_a_name(client_all, workspace):
    campaign = make_campaign(workspace)
    before = stored(campaign)

    response = client_all.put(campaign_url(campaign), {"daily_limit": 10}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}
    assert stored(campaign) == before


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("status", ["DRAFT", "ACTIVE", "PAUSED", "COMPLETED"])
def test_status_cannot_be_changed_by_patch_or_put(client_all, workspace, method, status):
    campaign = make_campaign(workspace, status=status)
    before = stored(campaign)
    target = "PAUSED" if status == "ACTIVE" else "ACTIVE"

    response = getattr(client_all, method)(
        campaign_url(campaign), {"name": "New name", "status": target}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "status": [
            "The status cannot be changed here: use POST campaigns/{id}/activate or "
            "campaigns/{id}/pause."
        ]
    }
    assert stored(campaign) == before


@pytest.mark.parametrize("method", ["patch", "put"])
def test_sending_the_same_status_back_is_refused_too(client_all, workspace, method):
    campaign = make_campaign(workspace)

    response = getattr(client_all, method)(
        campaign_url(campaign), {"name": "x", "status": "DRAFT"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


@pytest.mark.parametrize("field", ["steps", "sender_account_ids"])
def test_an_active_campaign_cannot_be_emptied(client_all, workspace, field):
    campaign = make_campaign(workspace, status="ACTIVE")
    before = stored(campaign)

    response = client_all.patch(campaign_url(campaign), {field: []}, format="json")

    # Steps and sender accounts change only while DRAFT or PAUSED (API.md §7).
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert response.json()["status"] == "ACTIVE"
    assert stored(campaign) == before


def test_a_paused_campaign_can_be_emptied(client_all, workspace):
    campaign = make_campaign(workspace, status="PAUSED")

    response = client_all.patch(
        campaign_url(campaign), {"steps": [], "sender_account_ids": []}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["steps"], response.json()["sender_account_ids"]) == ([], [])


def test_an_active_campaign_can_be_edited(client_all, workspace):
    campaign = make_campaign(workspace, status="ACTIVE")

    response = client_all.patch(campaign_url(campaign), {"daily_limit": 7}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "ACTIVE"
    assert stored(campaign)["daily_limit"] == 7


OTHER_WORKSPACE_REQUESTS = [
    ("get", None, None),
    ("patch", None, {"name": "stolen"}),
    ("put", None, {"name": "stolen"}),
    ("delete", None, None),
    ("post", "pause", None),
    ("post", "activate", None),
    ("get", "analytics", None),
]


@pytest.mark.parametrize(("method", "action", "body"), OTHER_WORKSPACE_REQUESTS)
@pytest.mark.parametrize("status", ["DRAFT", "ACTIVE", "PAUSED"])
def test_another_workspaces_campaign_is_404_on_every_method(
    client_all, other_workspace, method, action, body, status
):
    theirs = make_campaign(other_workspace, status=status)
    before = stored(theirs)

    response = getattr(client_all, method)(campaign_url(theirs, action), body, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert stored(theirs) == before


def test_sender_accounts_of_another_workspace_are_refused(client_all, workspace, other_workspace):
    theirs = make_sender(other_workspace)
    campaign = make_campaign(workspace)
    before = stored(campaign)

    created = client_all.post(
        campaign_url(), campaign_body(sender_account_ids=[str(theirs.pk)]), format="json"
    )
    patched = client_all.patch(
        campaign_url(campaign), {"sender_account_ids": [str(theirs.pk)]}, format="json"
    )

    message = {"sender_account_ids": [f"Sender account {theirs.pk} does not exist."]}
    assert (created.status_code, created.json()) == (400, message)
    assert (patched.status_code, patched.json()) == (400, message)
    assert Campaign.objects.count() == 1
    assert stored(campaign) == before


@pytest.mark.parametrize(
    ("method", "action", "scope"),
    [("get", None, "campaigns:read"), ("post", None, "campaigns:create"),
     ("patch", "x", "campaigns:update"), ("put", "x", "campaigns:update"),
     ("delete", "x", "campaigns:delete"), ("get", "analytics", "campaigns:read")],
)  # fmt: skip
def test_each_route_needs_its_scope(make_client, workspace, method, action, scope):
    campaign = make_campaign(workspace)
    url = campaign_url() if action is None else campaign_url(campaign)
    if action == "analytics":
        url = campaign_url(campaign, "analytics")
    client = make_client(["leads:all"])

    response = getattr(client, method)(url, {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["required"] == [scope]
    assert make_client([scope]).generic(method.upper(), url).status_code != 403


def test_a_patched_step_without_delay_days_gets_the_default(client_all, workspace):
    campaign = make_campaign(workspace, steps=1)
    CampaignStep.objects.filter(campaign=campaign).update(delay_days=3)

    response = client_all.patch(
        campaign_url(campaign), {"steps": [{"subject": "s", "body": "b"}]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["steps"] == [{"subject": "s", "body": "b", "delay_days": 0}]
    assert stored(campaign)["steps"][0]["delay_days"] == 0
