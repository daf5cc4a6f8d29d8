"""Every input rule of a campaign: a clear 400 naming the field, and nothing saved or changed."""

import uuid

import pytest

from campaigns.models import Campaign
from tests.factories import make_campaign, make_sender, stored
from tests.request_bodies import campaign_body
from tests.urls import campaign_url

SCHEDULE = campaign_body()["schedule"]
STEP = {"subject": "Hi", "body": "Hello there", "delay_days": 1}


def schedule(**changes):
    return {**SCHEDULE, **changes}


# (case id, body fields, path to the error in the 400 body)
INVALID = [
    ("name empty", {"name": ""}, ["name"]),
    ("name blank", {"name": "   "}, ["name"]),
    ("name too long", {"name": "x" * 201}, ["name"]),
    ("name null", {"name": None}, ["name"]),
    ("daily_limit 0", {"daily_limit": 0}, ["daily_limit"]),
    ("daily_limit 10001", {"daily_limit": 10001}, ["daily_limit"]),
    ("daily_limit text", {"daily_limit": "many"}, ["daily_limit"]),
    ("daily_limit fraction", {"daily_limit": 1.5}, ["daily_limit"]),
    ("daily_limit null", {"daily_limit": None}, ["daily_limit"]),
    ("stop_on_reply text", {"stop_on_reply": "maybe"}, ["stop_on_reply"]),
    ("schedule not an object", {"schedule": "weekdays"}, ["schedule"]),
    ("schedule null", {"schedule": None}, ["schedule"]),
    ("schedule missing key", {"schedule": {"timezone": "UTC"}}, ["schedule", "days"]),
    ("no end", {"schedule": {**SCHEDULE, "end_time": None}}, ["schedule", "end_time"]),
    ("schedule unknown key", {"schedule": schedule(holidays=True)}, ["schedule", "holidays"]),
    ("timezone unknown", {"schedule": schedule(timezone="Mars/Olympus")}, ["schedule", "timezone"]),
    ("tz path", {"schedule": schedule(timezone="../../etc/passwd")}, ["schedule", "timezone"]),
    ("timezone empty", {"schedule": schedule(timezone="")}, ["schedule", "timezone"]),
    ("timezone offset", {"schedule": schedule(timezone="+02:00")}, ["schedule", "timezone"]),
    ("days empty", {"schedule": schedule(days=[])}, ["schedule", "days"]),
    ("days 0", {"schedule": schedule(days=[0, 1])}, ["schedule", "days"]),
    ("days 8", {"schedule": schedule(days=[8])}, ["schedule", "days"]),
    ("days repeat", {"schedule": schedule(days=[1, 2, 1])}, ["schedule", "days"]),
    ("days names", {"schedule": schedule(days=["monday"])}, ["schedule", "days"]),
    ("days not a list", {"schedule": schedule(days=1)}, ["schedule", "days"]),
    ("start no colon", {"schedule": schedule(start_time="0900")}, ["schedule", "start_time"]),
    ("start one digit", {"schedule": schedule(start_time="9:00")}, ["schedule", "start_time"]),
    ("start 24:00", {"schedule": schedule(end_time="24:00")}, ["schedule", "end_time"]),
    ("minute 60", {"schedule": schedule(start_time="09:60")}, ["schedule", "start_time"]),
    ("seconds", {"schedule": schedule(start_time="09:00:00")}, ["schedule", "start_time"]),
    ("start == end",
     {"schedule": schedule(start_time="10:00", end_time="10:00")}, ["schedule", "end_time"]),
    ("start > end",
     {"schedule": schedule(start_time="18:00", end_time="08:00")}, ["schedule", "end_time"]),
    ("steps not a list", {"steps": STEP}, ["steps"]),
    ("steps 21", {"steps": [STEP] * 21}, ["steps"]),
    ("step not an object", {"steps": ["hello"]}, ["steps", "0"]),
    ("step subject empty", {"steps": [{**STEP, "subject": ""}]}, ["steps", "0", "subject"]),
    ("step subject missing", {"steps": [{"body": "b"}]}, ["steps", "0", "subject"]),
    ("step body blank", {"steps": [STEP, {**STEP, "body": "  \n"}]}, ["steps", "1", "body"]),
    ("step body missing", {"steps": [{"subject": "s"}]}, ["steps", "0", "body"]),
    ("step delay negative", {"steps": [{**STEP, "delay_days": -1}]}, ["steps", "0", "delay_days"]),
    ("step delay text", {"steps": [{**STEP, "delay_days": "soon"}]}, ["steps", "0", "delay_days"]),
    ("step unknown key", {"steps": [{**STEP, "position": 3}]}, ["steps", "0", "position"]),
    ("sender not a list", {"sender_account_ids": "abc"}, ["sender_account_ids"]),
    ("sender not a uuid", {"sender_account_ids": ["abc"]}, ["sender_account_ids", "0"]),
    ("sender unknown", {"sender_account_ids": [str(uuid.uuid4())]}, ["sender_account_ids"]),
    ("unknown field", {"priority": "high"}, ["priority"]),
    ("status", {"status": "ACTIVE"}, ["status"]),
    ("id", {"id": str(uuid.uuid4())}, ["id"]),
    ("created_at", {"created_at": "2020-01-01T00:00:00Z"}, ["created_at"]),
    ("stats", {"stats": {}}, ["stats"]),
]  # fmt: skip


def error_at(body, path):
    for key in path:
        body = body[key]
    return body


@pytest.mark.parametrize(("fields", "path"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_create_refuses(client_all, fields, path):
    response = client_all.post(campaign_url(), campaign_body(**fields), format="json")

    assert response.status_code == 400, response.content
    assert error_at(response.json(), path)
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("fields", "path"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_refuses(client_all, workspace, method, fields, path):
    campaign = make_campaign(workspace, steps=2)
    before = stored(campaign)
    body = campaign_body(**fields) if method == "put" else fields

    response = getattr(client_all, method)(campaign_url(campaign), body, format="json")

    assert response.status_code == 400, response.content
    assert error_at(response.json(), path)
    assert stored(campaign) == before


def test_messages_are_clear(client_all):
    body = campaign_body(
        priority=1,
        schedule=schedule(timezone="Mars/Olympus", days=[1, 1]),
        steps=[{**STEP, "delay_days": -1}],
    )

    errors = client_all.post(campaign_url(), body, format="json").json()

    assert errors == {
        "priority": ["Unknown field."],
        "schedule": {
            "timezone": ['"Mars/Olympus" is not an IANA time zone name.'],
            "days": ["Days must not repeat."],
        },
        "steps": {"0": {"delay_days": ["Ensure this value is greater than or equal to 0."]}},
    }


def test_duplicate_sender_accounts_are_refused(client_all, workspace):
    sender = make_sender(workspace)

    response = client_all.post(
        campaign_url(),
        campaign_body(sender_account_ids=[str(sender.pk), str(sender.pk)]),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"sender_account_ids": ["Sender accounts must not repeat."]}
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("body", [[], ["name"], "name", 42])
def test_a_body_that_is_not_an_object_is_refused(client_all, body):
    response = client_all.post(campaign_url(), body, format="json")

    assert response.status_code == 400
    assert not Campaign.objects.exists()


def test_malformed_json_is_a_400(client_all):
    response = client_all.generic(
        "POST", campaign_url(), '{"name": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()
    assert not Campaign.objects.exists()


# The edges that must be accepted.
VALID = [
    ("name 1 char", {"name": "x"}),
    ("name 200 chars", {"name": "x" * 200}),
    ("daily_limit 1", {"daily_limit": 1}),
    ("daily_limit 10000", {"daily_limit": 10000}),
    ("all days", {"schedule": schedule(days=[1, 2, 3, 4, 5, 6, 7])}),
    ("whole day", {"schedule": schedule(start_time="00:00", end_time="23:59")}),
    ("timezone UTC", {"schedule": schedule(timezone="UTC")}),
    ("20 steps", {"steps": [STEP] * 20}),
    ("no steps", {"steps": []}),
    ("delay 0", {"steps": [{**STEP, "delay_days": 0}]}),
]


@pytest.mark.parametrize("fields", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_the_edges_are_accepted(client_all, fields):
    response = client_all.post(campaign_url(), campaign_body(**fields), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    for key, value in fields.items():
        if key == "steps":
            value = [{"delay_days": 0, **step} for step in value]
        assert data[key] == value
    assert Campaign.objects.count() == 1


def test_days_are_stored_in_ascending_order(client_all):
    response = client_all.post(
        campaign_url(), campaign_body(schedule=schedule(days=[7, 1, 3])), format="json"
    )

    assert response.json()["schedule"]["days"] == [1, 3, 7]
    assert Campaign.objects.get().schedule["days"] == [1, 3, 7]


def test_step_delay_defaults_to_zero(client_all):
    response = client_all.post(
        campaign_url(), campaign_body(steps=[{"subject": "s", "body": "b"}]), format="json"
    )

    assert response.json()["steps"] == [{"subject": "s", "body": "b", "delay_days": 0}]
