"""Schema fuzzing: every operation of the app's own OpenAPI document, run in-process against the
WSGI app with requests schemathesis derives from that document (valid and invalid ones, its
coverage phase and random fuzzing), each answer checked against the same document. A failure
means the code or its schema is wrong: fix that, never the checks."""

import re
import zlib
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import Campaign, CampaignStep
from coldsend.api.pagination import INVALID_CURSOR
from delivery.models import Message
from delivery.previews import LEAD_NOT_IN_CAMPAIGN, NO_STEP, STEP_RANGE_PATTERN
from events.filters import OUT_OF_RANGE
from leads.importing.parse_json import TOO_DEEP
from leads.models import Lead
from leads.services import CAMPAIGN_NOT_FOUND
from sender_accounts.models import SMTP_REFUSED, SMTP_REQUIRED, SenderAccount
from sender_accounts.serializers import NO_INBOX, PASSWORD_AGAIN
from webhooks.serializers import UNTIL_BEFORE_SINCE

API = "/api/public/v1/"
# A fixed seed and derandomize: CI runs the same requests every time, so a failure reproduces.
# The tests send real keys themselves, so schemathesis neither generates nor drops auth headers.
CONFIG = schemathesis.Config.from_dict(
    {"seed": 20240601, "generation": {"with-security-parameters": False}}
)
schema = schemathesis.openapi.from_wsgi(f"{API}schema", get_wsgi_application(), config=CONFIG)

MISSING_SENDER = re.compile(r"Sender account [0-9a-f-]{36} does not exist\.")
# An inbox host is resolved when the account is created (API.md §7's SSRF rule).
HOST_REFUSED = re.compile(
    r"The host .* (does not resolve|is not a public address \(loopback, private, link-local"
    r" or reserved\))\.",
    re.DOTALL,
)
# A webhook URL is checked like a host (above), against the server's private-host rule, and by
# Django's URLValidator (a host name with a top-level domain, …), more than a `uri` can say.
WEBHOOK_URL = re.compile(
    r"Enter a valid URL\.|The URL (must use http or https|has no host|must not carry a username"
    rf" or password|'s port is not valid)\.|{HOST_REFUSED.pattern}",
    re.DOTALL,
)

# The 400s a schema-valid request may still get, each for a reason an OpenAPI 3.0 document
# cannot state (everything else the code checks, the schema states):
NOT_IN_THE_SCHEMA = {
    # an object the request names does not exist in the key's workspace
    "campaign_id": [[CAMPAIGN_NOT_FOUND]],
    "sender_account_ids": [MISSING_SENDER],
    # a step or a lead the campaign does not have (preview, test send)
    "step": [re.compile(STEP_RANGE_PATTERN), [NO_STEP]],
    "lead_id": [[LEAD_NOT_IN_CAMPAIGN]],
    # a cursor the API did not hand out
    "cursor": [[INVALID_CURSOR]],
    # rules between two fields (the descriptions say them)
    "schedule": [{"end_time": ["Must be later than start_time."]}],
    "max_interval_seconds": [["Must be at least min_interval_seconds."]],
    # PATCH: one sent interval against the stored other
    "min_interval_seconds": [re.compile(r"Must be at most max_interval_seconds \(\d+\)\.")],
    "from": [["Must be on or before `to`."]],
    # what DNS says of a host name, at the time of the request; on PATCH, what the stored
    # account is (its type; the server a left-out password belongs to)
    "imap": [{"host": HOST_REFUSED}, [NO_INBOX], {"password": [PASSWORD_AGAIN]}],
    "smtp": [[SMTP_REFUSED], [SMTP_REQUIRED], {"password": [PASSWORD_AGAIN]}],
    "to": [["The range may cover at most 366 days."]],
    # a webhook's URL (above), and an endpoint of one campaign with other event types
    "url": [WEBHOOK_URL],
    "event_types": [re.compile(r"An endpoint of one campaign gets no .+\.")],
    # replay: `until` before `since`; any time whose UTC offset takes it past year 1 or 9999
    "until": [[UNTIL_BEFORE_SINCE], [OUT_OF_RANGE]],
    "since": [[OUT_OF_RANGE]],
    "created_after": [[OUT_OF_RANGE]],
    # step 1 needs a subject, later steps may leave it empty: OpenAPI 3.0 cannot give a list's
    # first item a schema of its own (`prefixItems` is 3.1); the field's description says it
    "steps": [{"0": {"subject": ["This field may not be blank."]}}],
    # how deep the JSON nests: OpenAPI 3.0 has no way to bound it (the `leads` items' description
    # says the limit)
    "detail": [TOO_DEEP],
    # rules on object keys: OpenAPI 3.0 has no `propertyNames` (the description says them)
    "custom_fields": [
        ["Keys must be 1 to 100 characters long."],
        ["Keys and values may not contain NUL characters or invalid Unicode."],
    ],
}


def _expected(messages: object, allowed: object) -> bool:
    if isinstance(allowed, dict):
        return (
            isinstance(messages, dict)
            and messages.keys() == allowed.keys()
            and all(_expected(messages[key], value) for key, value in allowed.items())
        )
    if isinstance(allowed, re.Pattern):
        return isinstance(messages, list) and all(
            isinstance(m, str) and allowed.fullmatch(m) for m in messages
        )
    return messages == allowed


def names_what_no_schema_can_know(response) -> bool:
    """A 400 or 422 that only says what a schema cannot express: NOT_IN_THE_SCHEMA, or an
    Idempotency-Key used before for another request."""
    if response.status_code == 422:
        return response.json().get("code") == "idempotency_key_reused"
    if response.status_code != 400:
        return False
    errors = response.json()
    return bool(errors) and all(
        any(_expected(messages, allowed) for allowed in NOT_IN_THE_SCHEMA.get(name, []))
        for name, messages in errors.items()
    )


def positive_data_accepted(ctx, response, case: schemathesis.Case) -> bool | None:
    """schemathesis' positive_data_acceptance (a request the schema calls valid is not refused),
    except for what names_what_no_schema_can_know lists."""
    if names_what_no_schema_can_know(response):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_accepted,
    ignored_auth,
]
UNLIMITED = {"default": "1000000/minute", "import": "1000000/minute"}


@pytest.fixture
def _keep_test_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection around each request, which would end the
    test's transaction; Django's test client disconnects the same receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(_keep_test_connection, workspace, make_key) -> dict:
    """Keys, and objects in each state a detail route treats differently: a DRAFT campaign ready
    to activate and an ACTIVE one, an SMTP account in ERROR and a NATIVE one, a PENDING lead and
    a CONTACTED one with a message sent and one waiting for a retry."""
    _, wildcard = make_key(["*"], name="fuzz: every scope")
    _, no_scopes = make_key([], name="fuzz: no scope")
    smtp = SenderAccount.objects.create(
        workspace=workspace,
        type=SenderAccount.Type.SMTP,
        email="smtp@acme.test",
        smtp_host="smtp.acme.test",
        smtp_port=587,
        smtp_username="smtp@acme.test",
        smtp_password="smtp password",
        smtp_security=SenderAccount.Security.STARTTLS,
        status=SenderAccount.Status.ERROR,
        last_error="SMTP login refused (535).",
    )
    native = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="native@acme.test"
    )
    draft = Campaign.objects.create(workspace=workspace, name="Draft")
    active = Campaign.objects.create(
        workspace=workspace, name="Active", status=Campaign.Status.ACTIVE
    )
    for campaign, account in ((draft, smtp), (active, native)):
        campaign.sender_accounts.add(account)
        CampaignStep.objects.create(campaign=campaign, position=0, subject="Hi", body="Hello")
    pending = Lead.objects.create(workspace=workspace, campaign=draft, email="a@acme.test")
    contacted = Lead.objects.create(
        workspace=workspace, campaign=active, email="b@acme.test", status=Lead.Status.CONTACTED
    )
    now = timezone.now()
    for step, status, error in ((1, Message.Status.SENT, ""), (2, Message.Status.RETRY, "451")):
        Message.objects.create(
            lead=contacted,
            campaign=active,
            step=step,
            sender_account=native,
            status=status,
            attempts=1,
            message_id=f"<{step}@acme.test>",
            subject="Hi",
            error=error,
            claimed_at=now,
            attempted_at=now,
            sent_at=now if status == Message.Status.SENT else None,
        )
    return {
        "wildcard": wildcard,
        "no_scopes": no_scopes,
        "campaigns": [str(draft.pk), str(active.pk)],
        "sender_accounts": [str(smtp.pk), str(native.pk)],
        "leads": [str(pending.pk), str(contacted.pk)],
    }


def choice(case: schemathesis.Case, salt: str) -> int:
    """0, 1 or 2, fixed for a generated case: reproducible, and no extra draw (which would turn
    off schemathesis' coverage phase)."""
    generated = (case.method, case.path_parameters, case.query, case.body, salt)
    return zlib.crc32(repr(generated).encode()) % 3


UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and UUID.fullmatch(value) is not None


def use_real_ids(case: schemathesis.Case, world: dict) -> None:
    """Point two cases in three at objects that exist, so detail routes and references answer
    2xx (and 409), not only 404 and 400. Only well-formed generated ids are replaced, so an
    invalid value schemathesis means to send is sent. New containers, not edits in place:
    schemathesis compares them with what it generated to tell whether the case is invalid."""
    resource = case.path.removeprefix(API).split("/")[0]
    generated_id = case.path_parameters.get("id")
    if resource in world and is_uuid(generated_id) and (pick := choice(case, "path")):
        case.path_parameters = {**case.path_parameters, "id": world[resource][pick - 1]}
    if not isinstance(case.body, dict):
        return
    body = dict(case.body)
    if is_uuid(body.get("campaign_id")) and (pick := choice(case, "campaign_id")):
        body["campaign_id"] = world["campaigns"][pick - 1]
    senders = body.get("sender_account_ids")
    if isinstance(senders, list) and all(is_uuid(i) for i in senders):
        body["sender_account_ids"] = world["sender_accounts"][: choice(case, "senders")]
    if body != case.body:
        case.body = body


def assert_refused_without_scopes(case: schemathesis.Case, world: dict, status: int) -> None:
    """No key: 401. A key without scopes: 403, except on `me`, which needs none. Both before any
    404 or 400. A method the path does not offer is 405 whatever the key."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return  # an invalid id may miss the route entirely: a 404 before any key is read
    without_key = case.call()
    assert without_key.status_code == 401, without_key.text
    refused = case.call(headers={"X-API-Key": world["no_scopes"]})
    if case.method.upper() != case.operation.method.upper():
        assert (status, refused.status_code) == (405, 405), refused.text
    elif case.operation.path == f"{API}me/":
        assert refused.status_code == 200, refused.text
    else:
        assert refused.status_code == 403, refused.text


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, world: dict) -> None:
    use_real_ids(case, world)
    cache.clear()  # a fresh Idempotency-Key store: each example is a first request
    # Each example runs in a savepoint rolled back after it: every example sees the same objects.
    with override_settings(RATE_LIMITS=UNLIMITED), transaction.atomic():
        response = case.call_and_validate(headers={"X-API-Key": world["wildcard"]}, checks=CHECKS)
        assert_refused_without_scopes(case, world, response.status_code)
        transaction.set_rollback(True)


class Workflow(schema.as_state_machine()):
    """Stateful fuzzing: schemathesis follows the schema's OpenAPI links from what a step
    created (a campaign, a sender account, a lead) to the operations on it, with the same
    checks as above."""

    key = ""
    called: set[str] = set()

    def setup(self) -> None:
        # Each run starts from the same objects (a savepoint rolled back in teardown), so a
        # replayed run draws what the first drew: hypothesis requires it.
        cache.clear()
        self.savepoint = transaction.savepoint()

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    def get_call_kwargs(self, case: schemathesis.Case) -> dict:
        return {"headers": {"X-API-Key": self.key}}

    def validate_response(self, response, case: schemathesis.Case, **kwargs) -> None:
        type(self).called.add(case.operation.label)
        # Auth is the first test's business: here every call sends the real key.
        case.validate_response(response, checks=[c for c in CHECKS if c is not ignored_auth])


@pytest.mark.django_db
def test_linked_operations_conform_to_the_schema(world: dict) -> None:
    Workflow.key, Workflow.called = world["wildcard"], set()
    with override_settings(RATE_LIMITS=UNLIMITED), transaction.atomic():
        Workflow.run(
            settings=settings(
                max_examples=25,
                stateful_step_count=8,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
        )
        transaction.set_rollback(True)
    # Reached through the links from a created campaign or sender account (DELETE campaigns is
    # linked too, but this small budget does not draw it; the first test covers it):
    assert {
        f"POST {API}campaigns/{{id}}/activate/",
        f"POST {API}campaigns/{{id}}/pause/",
        f"GET {API}sender_accounts/{{id}}/",
        f"DELETE {API}sender_accounts/{{id}}/",
    } <= Workflow.called, sorted(Workflow.called)
