"""Scopes (API.md §2, §3): the registry, `RESOURCE:all` and `*`, the exact 403 body, and the
order of checks (401 before 403 before 400). The HTTP tests use the real campaigns routes,
and one table-driven test walks every operation of the OpenAPI schema."""

import uuid

import pytest
from rest_framework.test import APIClient

from apikeys import scopes as registry
from apikeys.scopes import (
    KNOWN_SCOPES,
    RESOURCES,
    UnknownScopeError,
    grants,
    missing_scopes,
    parse_scopes,
)
from campaigns.models import Campaign
from tests.urls import ACTION_SCOPES, CONTRACT_SCOPES, api_url, scoped_operations

CAMPAIGNS = api_url("campaigns")
KEY_REQUIRED = "API key required. Include your API key in X-API-Key header."


def test_known_scopes_are_exactly_the_contract():
    assert set(KNOWN_SCOPES) == CONTRACT_SCOPES
    assert len(KNOWN_SCOPES) == len(CONTRACT_SCOPES)  # no duplicates


def test_known_scopes_are_derived_from_resources():
    derived = {f"{r}:{a}" for r, actions in RESOURCES.items() for a in actions}
    derived |= {f"{r}:all" for r in RESOURCES}
    derived.add("*")
    assert set(KNOWN_SCOPES) == derived
    assert set(RESOURCES) == {"campaigns", "sender_accounts", "leads", "webhooks", "events"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("campaigns:read", ["campaigns:read"]),
        ("campaigns:read,leads:all", ["campaigns:read", "leads:all"]),
        (" campaigns:read , leads:all ", ["campaigns:read", "leads:all"]),
        ("leads:all,campaigns:read", ["leads:all", "campaigns:read"]),  # order kept
        ("campaigns:read,campaigns:read", ["campaigns:read"]),
        ("campaigns:read,,leads:read,", ["campaigns:read", "leads:read"]),
        ("*", ["*"]),
        ("", []),
        (["sender_accounts:create", " leads:delete"], ["sender_accounts:create", "leads:delete"]),
        (("campaigns:all", "campaigns:all"), ["campaigns:all"]),
    ],
)
def test_parse_scopes(raw, expected):
    assert parse_scopes(raw) == expected


@pytest.mark.parametrize(
    ("raw", "unknown"),
    [
        ("campaigns:write", ["campaigns:write"]),
        ("campaigns:read,bogus", ["bogus"]),
        ("Campaigns:Read", ["Campaigns:Read"]),
        ("campaigns", ["campaigns"]),
        ("campaigns:*", ["campaigns:*"]),
        ("all", ["all"]),
        ("leads:update", ["leads:update"]),  # leads have no update
        (
            "sender_accounts:pause,zz:top,aa:bottom",
            ["aa:bottom", "sender_accounts:pause", "zz:top"],
        ),
    ],
)
def test_parse_scopes_refuses_unknown(raw, unknown):
    with pytest.raises(UnknownScopeError) as error:
        parse_scopes(raw)
    assert error.value.unknown == unknown
    message = str(error.value)
    for name in unknown:
        assert name in message
    for known in KNOWN_SCOPES:  # the message lists every known scope
        assert known in message
    assert isinstance(error.value, ValueError)


def test_grants_direct_all_and_wildcard():
    assert grants(["campaigns:read"], "campaigns:read")
    assert not grants(["campaigns:read"], "campaigns:create")
    assert not grants([], "campaigns:read")
    for resource, actions in RESOURCES.items():
        for action in actions:
            required = f"{resource}:{action}"
            assert grants([f"{resource}:all"], required)
            assert grants(["*"], required)
            for other in RESOURCES:
                if other != resource:
                    assert not grants([f"{other}:all"], required)
    # `*` grants scopes added in later versions; RESOURCE:all grants that resource's new actions
    assert grants(["*"], "reports:read")
    assert grants(["campaigns:all"], "campaigns:archive")
    assert not grants(["campaigns:all"], "reports:read")
    assert not grants(["campaigns:read"], "campaigns:all")  # an action does not imply :all


def test_actions_added_later_are_known_and_granted_by_all():
    """`sender_accounts:update` came after the first version: RESOURCE:all and `*` grant it,
    and the note beside RESOURCE:all names it (registry.ADDED_LATER, one line per action)."""
    assert "sender_accounts:update" in registry.ADDED_LATER
    for name in registry.ADDED_LATER:
        assert name in KNOWN_SCOPES
        resource = name.split(":")[0]
        assert grants([f"{resource}:all"], name)
        assert grants(["*"], name)
        assert name in registry.all_scope_note(resource)
    assert registry.all_scope_note("sender_accounts") == (
        "includes sender_accounts:update (PATCH sender_accounts/{id}), added later"
    )
    assert registry.all_scope_note("campaigns") == ""


def test_grants_does_not_confuse_resource_prefixes():
    assert not grants(["leads:all"], "leads_archive:read")
    assert not grants(["campaigns:read"], "campaigns:read_all")


def test_missing_scopes_sorted():
    required = ["leads:read", "campaigns:read", "sender_accounts:create"]
    assert missing_scopes([], required) == sorted(required)
    assert missing_scopes(["campaigns:all"], required) == ["leads:read", "sender_accounts:create"]
    assert missing_scopes(["*"], required) == []
    assert missing_scopes(iter(["leads:all"]), iter(required)) == [
        "campaigns:read",
        "sender_accounts:create",
    ]


def test_scope_helper():
    assert registry.scope("campaigns", "read") == "campaigns:read"
    assert registry.WILDCARD == "*"


def assert_403(response, required: list[str], granted: list[str]) -> None:
    assert response.status_code == 403, response.content
    missing = [s for s in required if not grants(granted, s)]
    assert response.json() == {
        "detail": f"Missing required scopes: {', '.join(sorted(missing))}",
        "required": sorted(required),
        "granted": sorted(granted),
    }


@pytest.mark.django_db
def test_list_campaigns_without_read_scope(make_client):
    client = make_client(["leads:read"])
    response = client.get(CAMPAIGNS)
    assert response.json() == {
        "detail": "Missing required scopes: campaigns:read",
        "required": ["campaigns:read"],
        "granted": ["leads:read"],
    }
    assert response.status_code == 403


@pytest.mark.django_db
def test_create_campaign_without_create_scope_is_the_contract_example(make_client):
    client = make_client(["sender_accounts:read"])
    response = client.post(CAMPAIGNS, {"name": "Spring outreach"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: campaigns:create",
        "required": ["campaigns:create"],
        "granted": ["sender_accounts:read"],
    }
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_granted_is_as_stored_sorted_not_expanded(make_client):
    client = make_client(["sender_accounts:all", "leads:all", "campaigns:read"])
    response = client.post(CAMPAIGNS, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["granted"] == ["campaigns:read", "leads:all", "sender_accounts:all"]
    assert response.json()["required"] == ["campaigns:create"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "granted", [["campaigns:read"], ["campaigns:all"], ["*"], ["leads:read", "campaigns:read"]]
)
def test_list_campaigns_with_a_granting_scope(make_client, granted):
    response = make_client(granted).get(CAMPAIGNS)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("granted", [["campaigns:create"], ["campaigns:all"], ["*"]])
def test_create_campaign_with_a_granting_scope(make_client, granted):
    response = make_client(granted).post(CAMPAIGNS, {"name": "Spring outreach"}, format="json")
    assert response.status_code == 201, response.content
    assert Campaign.objects.filter(name="Spring outreach").count() == 1


@pytest.mark.django_db
def test_read_scope_does_not_allow_create(make_client):
    response = make_client(["campaigns:read"]).post(CAMPAIGNS, {"name": "x"}, format="json")
    assert_403(response, ["campaigns:create"], ["campaigns:read"])
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_other_resource_all_does_not_grant(make_client):
    response = make_client(["leads:all", "sender_accounts:all"]).get(CAMPAIGNS)
    assert_403(response, ["campaigns:read"], ["leads:all", "sender_accounts:all"])


@pytest.mark.django_db
def test_401_comes_before_403(make_key):
    # no key at all
    response = APIClient().post(CAMPAIGNS, {"name": "x"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": KEY_REQUIRED}
    # a bad key, on a route whose scope nobody here holds
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="cs_live_" + "0" * 40)
    for response in (client.get(CAMPAIGNS), client.post(CAMPAIGNS, {}, format="json")):
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or revoked API key"}
        assert response["WWW-Authenticate"] == "ApiKey"
    # a revoked key without the scope
    key, raw = make_key(["leads:read"])
    key.revoke()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(CAMPAIGNS).status_code == 401
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_403_comes_before_400(make_client):
    response = make_client(["leads:read"]).post(CAMPAIGNS, {"name": ""}, format="json")
    assert_403(response, ["campaigns:create"], ["leads:read"])
    response = make_client(["leads:read"]).post(CAMPAIGNS, "not json", content_type="text/plain")
    assert response.status_code == 403


@pytest.mark.django_db
def test_403_comes_before_404(make_client, other_workspace):
    response = make_client(["leads:read"]).get(f"{CAMPAIGNS}/{uuid.uuid4()}")
    assert_403(response, ["campaigns:read"], ["leads:read"])


@pytest.mark.django_db
def test_every_schema_operation_names_a_known_scope_and_enforces_it(make_key):
    operations = scoped_operations()
    problems = []
    for method, url, required in operations:
        if required not in ACTION_SCOPES:
            problems.append(f"{method.upper()} {url}: no known scope in its description")
            continue
        resource = required.split(":")[0]
        others = sorted(ACTION_SCOPES - {required}) + [
            f"{r}:all" for r in RESOURCES if r != resource
        ]
        _, without = make_key(others)
        _, exact = make_key([required])
        client = APIClient()

        response = getattr(client, method)(url, {}, format="json")
        if response.status_code != 401 or response.json() != {"detail": KEY_REQUIRED}:
            problems.append(f"{method.upper()} {url} without key: {response.status_code}")

        client.credentials(HTTP_X_API_KEY=without)
        response = getattr(client, method)(url, {}, format="json")
        expected = {
            "detail": f"Missing required scopes: {required}",
            "required": [required],
            "granted": sorted(others),
        }
        if response.status_code != 403 or response.json() != expected:
            problems.append(f"{method.upper()} {url} lacking {required}: {response.content!r}")

        client.credentials(HTTP_X_API_KEY=exact)
        response = getattr(client, method)(url, {}, format="json")
        if response.status_code in (401, 403, 500):
            problems.append(f"{method.upper()} {url} with {required}: {response.status_code}")
    assert problems == []


def test_schema_covers_every_action_scope():
    """Each action scope of the registry is required by at least one operation."""
    assert {required for _, _, required in scoped_operations()} == ACTION_SCOPES
