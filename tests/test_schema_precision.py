"""The OpenAPI document is as precise as the code (issue 12): what the API refuses, the schema
refuses too, so generated clients and the fuzzer (tests/test_schema_fuzz.py, which checks that
schema-valid requests are accepted) read the same rules; created objects link to the operations
on them, so a stateful client can follow them."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from campaigns.serializers import known_timezones
from tests.urls import api_url


@pytest.fixture(scope="module")
def document() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def component(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def test_schedule_days_and_time_zone(document):
    schedule = component(document, "ScheduleRequest")["properties"]
    days = schedule["days"]
    assert (days["minItems"], days["maxItems"], days["uniqueItems"]) == (1, 7, True)
    assert (days["items"]["minimum"], days["items"]["maximum"]) == (1, 7)
    zones = component(document, "TimeZone")["enum"]
    assert zones == sorted(known_timezones())
    assert "Europe/Berlin" in zones
    assert "0" not in zones


def test_sender_accounts_have_one_request_shape_per_type(document):
    create = document["paths"]["/api/public/v1/sender_accounts/"]["post"]["requestBody"]
    assert create["required"] is True
    shapes = component(document, "SenderAccountCreateRequest")
    assert shapes["discriminator"]["propertyName"] == "type"
    mapping = shapes["discriminator"]["mapping"]
    assert set(mapping) == {"NATIVE", "SMTP"}
    smtp = component(document, mapping["SMTP"].rsplit("/", 1)[-1])
    native = component(document, mapping["NATIVE"].rsplit("/", 1)[-1])
    assert "smtp" in smtp["required"]
    assert "smtp" not in native["required"]
    assert native["properties"]["smtp"]["nullable"] is True
    assert native["properties"]["smtp"]["not"] == {"type": "object"}  # null or absent only


def test_text_fields_state_what_trimming_and_nul_refuse(document):
    name = component(document, "CampaignRequest")["properties"]["name"]["pattern"]
    ecma = name.replace("$", r"\Z")  # JSON Schema's `$` is the end of the text
    for refused in ("", " ", "\t", "a\x00b", "a\nb"):
        assert not re.search(ecma, refused), refused
    assert re.search(ecma, " Spring outreach ")
    first_name = component(document, "LeadRequest")["properties"]["first_name"]
    assert "oneOf" not in first_name  # "" matches the pattern: one branch, not two
    assert re.search(first_name["pattern"], "")


def test_analytics_dates_state_their_years(document):
    operation = document["paths"]["/api/public/v1/campaigns/{id}/analytics/"]["get"]
    for parameter in operation["parameters"]:
        if parameter["name"] in ("from", "to"):
            pattern = parameter["schema"]["pattern"]
            assert re.search(pattern, "1800-01-01")
            assert re.search(pattern, "2999-12-31")
            assert not re.search(pattern, "1799-12-31")
            assert not re.search(pattern, "3000-01-01")


def test_created_objects_link_to_every_operation_on_them(document):
    paths = document["paths"]
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        on_object = {
            operation["operationId"]
            for other, other_item in paths.items()
            if other.startswith(f"{path}{{id}}/")
            for operation in other_item.values()
        }
        if created is None or not on_object:
            continue
        links = created["links"]
        assert set(links) == on_object, path
        for link in links.values():
            assert link["parameters"] == {"id": "$response.body#/id"}
    campaign_links = paths["/api/public/v1/campaigns/"]["post"]["responses"]["201"]["links"]
    assert {
        "campaigns_activate_create",
        "campaigns_pause_create",
        "campaigns_destroy",
        "campaigns_retrieve",
    } <= set(campaign_links)
    account_links = paths["/api/public/v1/sender_accounts/"]["post"]["responses"]["201"]["links"]
    assert set(account_links) == {
        "sender_accounts_retrieve",
        "sender_accounts_partial_update",
        "sender_accounts_destroy",
        "sender_accounts_check_create",
    }


def test_a_campaign_documents_at_most_20_steps(client_all):
    document = client_all.get(api_url("schema")).json()
    for name in ("CampaignRequest", "PatchedCampaignRequest", "Campaign"):
        assert document["components"]["schemas"][name]["properties"]["steps"]["maxItems"] == 20
    step = {"subject": "Hi", "body": "Hello"}
    response = client_all.post(
        api_url("campaigns"), {"name": "Long", "steps": [step] * 21}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["steps"]
