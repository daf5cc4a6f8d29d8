"""The OpenAPI document states the constraints the API enforces (found by the schema fuzzer):
clients generated from it, and the fuzzer, read the same rules the code applies."""

import pytest
from rest_framework.test import APIClient

from coldsend.api.idempotency import IDEMPOTENCY_KEY_PATTERN
from tests.urls import api_url

STRICT_REQUEST_COMPONENTS = [
    "CampaignRequest",
    "PatchedCampaignRequest",
    "ScheduleRequest",
    "StepRequest",
    "NativeSenderAccountRequest",
    "SMTPSenderAccountRequest",
    "SMTPSettingsRequest",
    "LeadRequest",
    "WebhookCreateRequest",
    "PatchedWebhookUpdateRequest",
    "RotateSecretRequest",
    "ReplayRequest",
]


@pytest.fixture(scope="module")
def document() -> dict:
    return APIClient().get(api_url("schema")).json()


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_either_auth_header_will_do(document):
    for _, _, operation in operations(document):
        assert operation["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}]


def test_ids_in_paths_are_uuids(document):
    for _, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["name"] == "id", path
                assert parameter["schema"] == {"type": "string", "format": "uuid"}, path


@pytest.mark.parametrize("component", STRICT_REQUEST_COMPONENTS)
def test_request_objects_refuse_unknown_fields(document, component):
    assert document["components"]["schemas"][component]["additionalProperties"] is False


def test_empty_filter_values_are_documented_as_absent(document):
    for path, names in [
        ("/api/public/v1/campaigns/", {"status"}),
        ("/api/public/v1/leads/", {"campaign_id", "status", "email"}),
        ("/api/public/v1/campaigns/{id}/analytics/", {"from", "to"}),
        ("/api/public/v1/events/", {"type", "campaign_id", "lead_id", "created_after"}),
    ]:
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        for name in names:
            assert parameters[name]["allowEmptyValue"] is True, (path, name)
        assert "allowEmptyValue" not in parameters.get("limit", {})


def test_the_email_filter_and_lead_email_are_emails(document):
    leads = {p["name"]: p for p in document["paths"]["/api/public/v1/leads/"]["get"]["parameters"]}
    assert leads["email"]["schema"]["format"] == "email"
    lead = document["components"]["schemas"]["LeadRequest"]["properties"]["email"]
    assert lead["format"] == "email"


def test_every_status_an_operation_can_answer_is_documented(document):
    for method, path, operation in operations(document):
        responses = set(operation["responses"])
        assert {"401", "403", "405", "429"} <= responses, (method, path)
        if "{id}" in path:
            assert "404" in responses, (method, path)
        if method in {"POST", "PUT", "PATCH"} or any(
            p["in"] == "query" for p in operation.get("parameters", [])
        ):
            assert "400" in responses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= responses, (method, path)


def test_campaigns_and_leads_document_json_bodies_only(document):
    for path in ["/api/public/v1/campaigns/", "/api/public/v1/leads/"]:
        assert list(document["paths"][path]["post"]["requestBody"]["content"]) == [
            "application/json"
        ]
    imports = document["paths"]["/api/public/v1/leads/import/"]["post"]["requestBody"]
    assert set(imports["content"]) == {"application/json", "multipart/form-data"}


def test_any_json_import_row_is_accepted_as_a_row(document):
    imports = document["components"]["schemas"]["LeadImportJSONRequest"]
    rows = imports["properties"]["leads"]
    assert rows["type"] == "array"
    assert rows["items"]["anyOf"][1] == {}
    assert rows["items"]["anyOf"][0]["required"] == ["email"]


def test_the_idempotency_key_header_states_its_format(document):
    for method, path, operation in operations(document):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method == "POST":
            schema = headers["Idempotency-Key"]["schema"]
            assert schema == {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}
        else:
            assert "Idempotency-Key" not in headers, (method, path)
