"""`GET events` and `GET events/{id}` (API.md §10, §4): the event as webhooks carry it, the
filters (type repeatable, campaign_id, lead_id, created_after), cursor pages newest first,
isolation between workspaces and the events:read scope."""

import uuid
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import time_machine
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.scopes import KNOWN_SCOPES
from events.services import record_event
from events.types import EVENT_TYPES
from tests.urls import api_url

EVENTS = api_url("events")
KEYS = {"id", "type", "created_at", "workspace", "data"}
T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(make_client) -> APIClient:
    return make_client(["events:read"])


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["results"]]


def activate_and_pause(client: APIClient) -> str:
    """A campaign activated then paused through the API (a campaign.activated and a
    campaign.paused event); its id."""
    sender = client.post(
        api_url("sender_accounts"), {"type": "NATIVE", "email": "s@acme.test"}, format="json"
    )
    assert sender.status_code == 201, sender.content
    campaign = client.post(
        api_url("campaigns"),
        {
            "name": "Spring",
            "sender_account_ids": [sender.json()["id"]],
            "steps": [{"subject": "Hi", "body": "Hello"}],
        },
        format="json",
    )
    assert campaign.status_code == 201, campaign.content
    pk = campaign.json()["id"]
    assert client.post(api_url(f"campaigns/{pk}/activate")).status_code == 200
    assert client.post(api_url(f"campaigns/{pk}/pause")).status_code == 200
    return pk


@pytest.fixture
def log(workspace) -> dict[str, object]:
    """Events a minute apart from T0: two about campaign A (one of them about lead L), one
    about campaign B, one about no campaign."""
    campaign_a, campaign_b, lead = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    made = {}
    with time_machine.travel(T0, tick=False) as traveller:
        for name, type, campaign, lead_id in [
            ("sent", "message.sent", campaign_a, lead),
            ("paused", "campaign.paused", campaign_a, None),
            ("other", "message.opened", campaign_b, uuid.uuid4()),
            ("account", "sender_account.error", None, None),
        ]:
            made[name] = str(
                record_event(
                    workspace.pk,
                    type,
                    EVENT_TYPES[type][1],
                    campaign_id=campaign,
                    lead_id=lead_id,
                ).pk
            )
            traveller.shift(timedelta(minutes=1))
    return {"events": made, "campaign_a": campaign_a, "campaign_b": campaign_b, "lead": lead}


def test_events_from_the_api_are_listed_as_webhooks_carry_them(make_client):
    client = make_client(["*"])
    campaign_id = activate_and_pause(client)
    response = client.get(EVENTS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    paused, activated = body["results"]
    for event in (paused, activated):
        assert set(event) == KEYS
        assert event["workspace"] == "acme"
        assert event["created_at"].endswith("Z")
        assert event["data"]["campaign_id"] == campaign_id
        assert event["data"]["campaign_name"] == "Spring"
        assert event["data"]["reason"] == "user"
    assert (paused["type"], paused["data"]["status"]) == ("campaign.paused", "PAUSED")
    assert (activated["type"], activated["data"]["status"]) == ("campaign.activated", "ACTIVE")
    assert client.get(api_url(f"events/{paused['id']}")).json() == paused


def test_retrieve_one_event(client, log, workspace):
    pk = log["events"]["sent"]
    response = client.get(api_url(f"events/{pk}"))
    assert response.status_code == 200
    event = response.json()
    assert set(event) == KEYS
    assert event["id"] == pk
    assert event["type"] == "message.sent"
    assert event["workspace"] == workspace.slug
    assert event["created_at"] == "2026-03-04T10:00:00Z"
    assert event["data"] == EVENT_TYPES["message.sent"][1]
    assert client.get(api_url(f"events/{pk}/")).json() == event  # trailing slash optional


@pytest.mark.parametrize("pk", [str(uuid.uuid4()), "not-an-id", "123"])
def test_an_unknown_or_malformed_id_is_404(client, pk):
    response = client.get(api_url(f"events/{pk}"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_list_is_newest_first(client, log):
    made = log["events"]
    assert ids(client.get(EVENTS)) == [made["account"], made["other"], made["paused"], made["sent"]]


# Filters


def test_type_filters_and_repeats_as_any_of(client, log):
    made = log["events"]
    assert ids(client.get(EVENTS, {"type": "message.sent"})) == [made["sent"]]
    both = client.get(EVENTS, {"type": ["message.sent", "sender_account.error"]})
    assert ids(both) == [made["account"], made["sent"]]
    assert ids(client.get(f"{EVENTS}?type=message.sent&type=message.sent")) == [made["sent"]]
    assert ids(client.get(EVENTS, {"type": "lead.replied"})) == []


@pytest.mark.parametrize(
    "types", [["message.snt"], ["message.sent", "nope"], ["MESSAGE.SENT"], ["message"]]
)
def test_an_unknown_type_is_400(client, log, types):
    response = client.get(EVENTS, {"type": types})
    assert response.status_code == 400
    assert list(response.json()) == ["type"]
    assert isinstance(response.json()["type"], list)


def test_campaign_and_lead_filters(client, log):
    made = log["events"]
    by_campaign = client.get(EVENTS, {"campaign_id": str(log["campaign_a"])})
    assert ids(by_campaign) == [made["paused"], made["sent"]]
    assert ids(client.get(EVENTS, {"lead_id": str(log["lead"])})) == [made["sent"]]
    assert ids(client.get(EVENTS, {"campaign_id": str(uuid.uuid4())})) == []
    combined = client.get(
        EVENTS, {"campaign_id": str(log["campaign_a"]), "type": "campaign.paused"}
    )
    assert ids(combined) == [made["paused"]]


@pytest.mark.parametrize("name", ["campaign_id", "lead_id"])
def test_a_malformed_id_filter_is_400(client, log, name):
    response = client.get(EVENTS, {name: "not-a-uuid"})
    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_created_after_is_strictly_after(client, log):
    made = log["events"]
    # `sent` is at T0, `paused` a minute later …
    at_t0 = client.get(EVENTS, {"created_after": "2026-03-04T10:00:00Z"})
    assert ids(at_t0) == [made["account"], made["other"], made["paused"]]
    offset = client.get(EVENTS, {"created_after": "2026-03-04T11:01:30+01:00"})
    assert ids(offset) == [made["account"], made["other"]]
    naive = client.get(EVENTS, {"created_after": "2026-03-04T10:02:00"})  # read as UTC
    assert ids(naive) == [made["account"]]
    assert ids(client.get(EVENTS, {"created_after": "2026-03-04T09:59:59.999Z"})) == [
        made["account"],
        made["other"],
        made["paused"],
        made["sent"],
    ]
    assert ids(client.get(EVENTS, {"created_after": "2026-03-05T00:00:00Z"})) == []


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01T00:00:00Z", "10:00", "9999-12-31T23:59:59-23:59"]
)
def test_a_malformed_created_after_is_400(client, log, value):
    response = client.get(EVENTS, {"created_after": value})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["created_after"]


def test_filters_narrow_lists_only(client, log):
    pk = log["events"]["sent"]
    response = client.get(api_url(f"events/{pk}"), {"type": "campaign.paused"})
    assert response.status_code == 200


# Pagination


def test_pages_follow_next_without_duplicates_or_gaps(client, workspace):
    made = [str(record_event(workspace.pk, "lead.unsubscribed", {"n": n}).pk) for n in range(7)]
    seen, url, pages = [], EVENTS + "?limit=3", 0
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 3
        seen += [event["id"] for event in page["results"]]
        url, pages = page["next"], pages + 1
    assert pages == 3
    assert seen == list(reversed(made))

    first = client.get(EVENTS, {"limit": 3}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert back["results"] == first["results"]


def test_a_page_is_stable_when_events_arrive_meanwhile(client, workspace):
    made = [str(record_event(workspace.pk, "lead.completed", {}).pk) for _ in range(4)]
    first = client.get(EVENTS, {"limit": 2}).json()
    record_event(workspace.pk, "lead.completed", {})
    second = client.get(first["next"]).json()
    assert [e["id"] for e in first["results"] + second["results"]] == list(reversed(made))


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"cursor": "garbage"}, "cursor")],
)
def test_bad_pages_are_400(client, query, field):
    response = client.get(EVENTS, query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_the_default_page_is_25(client, workspace):
    for _ in range(26):
        record_event(workspace.pk, "lead.completed", {})
    page = client.get(EVENTS).json()
    assert len(page["results"]) == 25
    assert page["next"] is not None


# Isolation


def test_another_workspaces_events_are_404_and_never_listed(
    client, make_client, log, other_workspace
):
    theirs = record_event(
        other_workspace.pk, "message.sent", {}, campaign_id=log["campaign_a"], lead_id=log["lead"]
    )
    response = client.get(api_url(f"events/{theirs.pk}"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    everything = ids(client.get(EVENTS, {"limit": 100}))
    assert str(theirs.pk) not in everything
    assert len(everything) == 4
    assert str(theirs.pk) not in ids(client.get(EVENTS, {"campaign_id": str(log["campaign_a"])}))
    assert str(theirs.pk) not in ids(client.get(EVENTS, {"lead_id": str(log["lead"])}))

    other = make_client(["events:read"], ws=other_workspace)
    [shown] = other.get(EVENTS).json()["results"]
    assert (shown["id"], shown["workspace"]) == (str(theirs.pk), "globex")
    assert other.get(api_url(f"events/{log['events']['sent']}")).status_code == 404


# Scope


@pytest.mark.parametrize("path", ["events", "events/{id}"])
def test_events_read_is_required(make_client, log, path):
    url = api_url(path.replace("{id}", log["events"]["sent"]))
    granted = sorted(s for s in KNOWN_SCOPES if s not in {"*", "events:read", "events:all"})
    response = make_client(granted).get(url)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: events:read",
        "required": ["events:read"],
        "granted": granted,
    }
    for scopes in (["events:read"], ["events:all"], ["*"]):
        assert make_client(scopes).get(url).status_code == 200


def test_403_comes_before_400_and_404(make_client):
    client = make_client(["webhooks:all"])
    assert client.get(EVENTS, {"type": "nope"}).status_code == 403
    assert client.get(api_url(f"events/{uuid.uuid4()}")).status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_events_are_read_only(client, log, method):
    for url in (EVENTS, api_url(f"events/{log['events']['sent']}")):
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 405
        assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


def test_empty_filter_values_are_absent(client, log):
    everything = ids(client.get(EVENTS))
    query = "?type=&campaign_id=&lead_id=&created_after="
    assert ids(client.get(EVENTS + query)) == everything
    assert ids(client.get(EVENTS + "?type=&type=message.sent")) == [log["events"]["sent"]]


# The OpenAPI document


@pytest.fixture(scope="module")
def document() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def validates(document: dict, value: object, component: str) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    jsonschema.validate(value, schema)


def test_the_schema_has_one_component_per_event_type_with_its_example(document):
    schemas = document["components"]["schemas"]
    event = schemas["Event"]
    assert event["discriminator"]["propertyName"] == "type"
    assert set(event["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(event["oneOf"]) == len(EVENT_TYPES)
    for event_type, (_, example) in EVENT_TYPES.items():
        name = "Event_" + event_type.replace(".", "_")
        component = schemas[name]
        assert event["discriminator"]["mapping"][event_type] == f"#/components/schemas/{name}"
        assert component["example"]["type"] == event_type
        assert component["example"]["data"] == example
        assert component["properties"]["data"]["example"] == example
        assert set(component["properties"]) == KEYS
        validates(document, component["example"], "Event")  # exactly one branch matches
        with pytest.raises(jsonschema.ValidationError):
            validates(document, {**component["example"], "type": "nope"}, "Event")


def test_events_answered_match_the_schema(make_client, document):
    client = make_client(["*"])
    activate_and_pause(client)
    for event in client.get(EVENTS).json()["results"]:
        validates(document, event, "Event")
        validates(document, client.get(api_url(f"events/{event['id']}")).json(), "Event")
    operation = document["paths"]["/api/public/v1/events/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["type"]["schema"]["items"]["enum"] == sorted(EVENT_TYPES)
    assert parameters["created_after"]["schema"]["format"] == "date-time"
    assert "Required scope: `events:read`." in operation["description"]
