"""The documented errors are the errors answered: every 409 and 422 code in the OpenAPI document
is one the operation can produce (from the one ErrorCode vocabulary), every operation documents
the ones it can produce, and real answers validate against the documented schemas."""

import hashlib
import uuid

import jsonschema
import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign
from coldsend.api.idempotency import _fingerprint
from coldsend.core.errors import Conflict, ErrorCode, Unprocessable
from delivery.models import Message
from engagement.models import Suppression
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import API, api_url

# The conflicts each operation's own domain code raises (transitions, services); every POST can
# also meet the idempotency ones, whatever it does.
DOMAIN_CONFLICTS: dict[tuple[str, str], set[ErrorCode]] = {
    ("POST", "campaigns/{id}/activate/"): {ErrorCode.INVALID_STATE, ErrorCode.NOT_READY},
    ("POST", "campaigns/{id}/pause/"): {ErrorCode.INVALID_STATE},
    ("POST", "campaigns/{id}/test/"): {ErrorCode.NOT_READY},
    ("DELETE", "campaigns/{id}/"): {ErrorCode.INVALID_STATE},
    ("PUT", "campaigns/{id}/"): {ErrorCode.INVALID_STATE},
    ("PATCH", "campaigns/{id}/"): {ErrorCode.INVALID_STATE},
    ("PATCH", "sender_accounts/{id}/"): {ErrorCode.INVALID_STATE},
    ("DELETE", "sender_accounts/{id}/"): {ErrorCode.IN_USE},
    ("POST", "leads/"): {ErrorCode.DUPLICATE},
    ("DELETE", "leads/{id}/"): {ErrorCode.INVALID_STATE},
    ("POST", "leads/{id}/reply/"): {
        ErrorCode.INVALID_STATE,
        ErrorCode.SUPPRESSED,
        ErrorCode.NOT_READY,
    },
    ("POST", "webhooks/"): {ErrorCode.LIMIT_REACHED},
}


@pytest.fixture(scope="module")
def document() -> dict:
    return APIClient().get(api_url("schema")).json()


def operations(document: dict) -> list[tuple[str, str, dict]]:
    prefix = f"{API}/"
    return [
        (method.upper(), path.removeprefix(prefix), operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def body_schema(document: dict, operation: dict, status: int) -> dict | None:
    response = operation["responses"].get(str(status))
    if response is None or "content" not in response:
        return None
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def documented_codes(document: dict, schema: dict) -> set[str]:
    schema = resolve(document, schema)
    if "oneOf" in schema:
        return set().union(*(documented_codes(document, s) for s in schema["oneOf"]))
    code = schema.get("properties", {}).get("code")
    return set(resolve(document, code)["enum"]) if code else set()


def check(document: dict, operation: dict, status: int, body: dict) -> None:
    schema = body_schema(document, operation, status)
    assert schema is not None, f"{operation['operationId']}: {status} is not documented"
    jsonschema.validate(body, schema)


def test_every_documented_code_is_one_the_operation_can_produce(document):
    vocabulary = {str(code) for code in ErrorCode}
    for method, path, operation in operations(document):
        expected_409 = set(DOMAIN_CONFLICTS.get((method, path), set()))
        if method == "POST":
            expected_409.add(ErrorCode.IDEMPOTENCY_IN_PROGRESS)
        expected_422 = {ErrorCode.IDEMPOTENCY_KEY_REUSED} if method == "POST" else set()
        for status, expected, error_class in (
            (409, expected_409, Conflict),
            (422, expected_422, Unprocessable),
        ):
            schema = body_schema(document, operation, status)
            codes = documented_codes(document, schema) if schema else set()
            where = f"{method} {path} {status}"
            assert codes <= vocabulary, where
            assert codes <= {str(c) for c in error_class.codes}, where
            assert codes == {str(c) for c in expected}, where


def seed_idempotency(key_pk: object, idempotency_key: str, fingerprint: str) -> None:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    cache.set(
        f"idempotency:{key_pk}:{digest}", {"state": "running", "fingerprint": fingerprint}, 60
    )


def test_every_post_answers_the_idempotency_errors_it_documents(document, make_key):
    key, raw = make_key(["*"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    posts = [(path, op) for method, path, op in operations(document) if method == "POST"]
    assert len(posts) >= 5
    for path, operation in posts:
        url = api_url(path.replace("{id}", str(uuid.uuid4())))
        same = RequestFactory().post(url, data="{}", content_type="application/json")

        seed_idempotency(key.pk, f"running-{path}", _fingerprint(same))
        running = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"running-{path}")
        assert running.status_code == 409, path
        assert running.json()["code"] == ErrorCode.IDEMPOTENCY_IN_PROGRESS
        check(document, operation, 409, running.json())

        seed_idempotency(key.pk, f"reused-{path}", "another body")
        reused = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"reused-{path}")
        assert reused.status_code == 422, path
        assert reused.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
        check(document, operation, 422, reused.json())


def campaign_workspace(campaign_id: str) -> int:
    return Campaign.objects.values_list("workspace_id", flat=True).get(pk=campaign_id)


def test_domain_conflicts_answer_as_documented(document, client_all, settings):
    by_operation = {(m, p): op for m, p, op in operations(document)}
    seen: set[tuple[str, str]] = set()

    def answer(method: str, path: str, url: str, code: ErrorCode, **body: object) -> dict:
        response = getattr(client_all, method.lower())(api_url(url), body or None, format="json")
        assert response.status_code == 409, (method, url, response.content)
        assert response.json()["code"] == code
        check(document, by_operation[(method, path)], 409, response.json())
        seen.add((method, path))
        return response.json()

    campaign = client_all.post(api_url("campaigns"), {"name": "Q3"}, format="json").json()
    answer("POST", "campaigns/{id}/activate/", f"campaigns/{campaign['id']}/activate",
           ErrorCode.NOT_READY)  # fmt: skip
    answer("POST", "campaigns/{id}/pause/", f"campaigns/{campaign['id']}/pause",
           ErrorCode.INVALID_STATE)  # fmt: skip

    sender = client_all.post(
        api_url("sender_accounts"), {"type": "NATIVE", "email": "a@acme.test"}, format="json"
    ).json()
    ready = client_all.post(
        api_url("campaigns"),
        {
            "name": "Ready",
            "sender_account_ids": [sender["id"]],
            "steps": [{"subject": "Hi", "body": "Hello"}],
        },
        format="json",
    ).json()
    assert client_all.post(api_url(f"campaigns/{ready['id']}/activate")).status_code == 200
    answer("DELETE", "campaigns/{id}/", f"campaigns/{ready['id']}", ErrorCode.INVALID_STATE)
    answer("DELETE", "sender_accounts/{id}/", f"sender_accounts/{sender['id']}",
           ErrorCode.IN_USE)  # fmt: skip
    answer("PATCH", "campaigns/{id}/", f"campaigns/{ready['id']}", ErrorCode.INVALID_STATE,
           steps=[])  # fmt: skip
    SenderAccount.objects.filter(pk=sender["id"]).update(status=SenderAccount.Status.ERROR)
    answer("PATCH", "sender_accounts/{id}/", f"sender_accounts/{sender['id']}",
           ErrorCode.INVALID_STATE, status="ACTIVE")  # fmt: skip
    answer("POST", "campaigns/{id}/test/", f"campaigns/{ready['id']}/test",
           ErrorCode.NOT_READY, step=1, to="t@acme.test")  # fmt: skip
    answer("PUT", "campaigns/{id}/", f"campaigns/{ready['id']}", ErrorCode.INVALID_STATE,
           name="Ready", sender_account_ids=[])  # fmt: skip

    lead = {"campaign_id": campaign["id"], "email": "ann@example.com"}
    created = client_all.post(api_url("leads"), lead, format="json").json()
    answer("POST", "leads/", "leads", ErrorCode.DUPLICATE, **lead)
    Lead.objects.filter(pk=created["id"]).update(status=Lead.Status.CONTACTED)
    answer("DELETE", "leads/{id}/", f"leads/{created['id']}", ErrorCode.INVALID_STATE)
    reply = ("POST", "leads/{id}/reply/", f"leads/{created['id']}/reply")
    answer(*reply, ErrorCode.INVALID_STATE, body="Thanks")  # nothing was sent to it
    now = timezone.now()
    Message.objects.create(
        lead_id=created["id"], campaign_id=campaign["id"], step=1, sender_account_id=sender["id"],
        status=Message.Status.SENT, attempts=1, message_id="<1@acme.test>", subject="Hi",
        claimed_at=now, attempted_at=now, sent_at=now,
    )  # fmt: skip
    suppression = Suppression.objects.create(
        workspace_id=campaign_workspace(campaign["id"]), email="ann@example.com",
        reason=Suppression.Reason.UNSUBSCRIBED, created_at=now,
    )  # fmt: skip
    answer(*reply, ErrorCode.SUPPRESSED, body="Thanks")
    suppression.delete()
    SenderAccount.objects.filter(pk=sender["id"]).update(status=SenderAccount.Status.DISABLED)
    answer(*reply, ErrorCode.NOT_READY, body="Thanks")

    settings.WEBHOOKS_PER_WORKSPACE = 0
    webhook = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    limited = client_all.post(api_url("webhooks"), webhook, format="json")
    assert limited.status_code == 409, limited.content
    assert limited.json()["code"] == ErrorCode.LIMIT_REACHED
    check(document, by_operation[("POST", "webhooks/")], 409, limited.json())
    seen.add(("POST", "webhooks/"))

    assert seen == set(DOMAIN_CONFLICTS)
