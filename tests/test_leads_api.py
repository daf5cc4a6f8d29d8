"""Leads (API.md §4 and §5): create, validation, duplicates, workspace isolation, filters,
retrieve, delete rules and the absence of updates."""

import uuid
from datetime import datetime

import pytest

from campaigns.models import Campaign
from leads.models import Lead
from tests.factories import make_lead
from tests.urls import api_url

LEADS = api_url("leads")
NOT_FOUND = {"detail": "Not found."}
CAMPAIGN_NOT_FOUND = ["No campaign with this id in your workspace."]
NO_ENGAGEMENT = {
    "sent": 0, "opened": 0, "clicked": 0, "replied_at": None, "last_contacted_at": None,
}  # fmt: skip


def lead_url(lead_id) -> str:
    return f"{LEADS}/{lead_id}"


@pytest.fixture
def second_campaign(workspace) -> Campaign:
    return Campaign.objects.create(workspace=workspace, name="Autumn outreach")


def body_for(campaign: Campaign, **fields) -> dict:
    return {"campaign_id": str(campaign.pk), "email": "ada@example.com", **fields}


# --- create ---------------------------------------------------------------------------------


def test_create_returns_the_lead_and_stores_the_email_lower_cased(client_all, campaign, workspace):
    response = client_all.post(
        LEADS,
        {
            "campaign_id": str(campaign.pk),
            "email": "  Ada.Lovelace@Example.COM ",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines",
            "custom_fields": {"title": "Countess", "city": "London"},
        },
    )

    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    body = response.json()
    assert body == {
        "id": str(lead.pk),
        "campaign_id": str(campaign.pk),
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "custom_fields": {"title": "Countess", "city": "London"},
        "status": "PENDING",
        "current_step": 0,
        "next_send_at": None,
        "created_at": body["created_at"],
        "engagement": NO_ENGAGEMENT,
    }
    assert datetime.fromisoformat(body["created_at"]) == lead.created_at
    assert lead.email == "ada.lovelace@example.com"
    assert lead.workspace_id == workspace.pk
    assert lead.campaign_id == campaign.pk
    assert lead.status == Lead.Status.PENDING
    assert lead.custom_fields == {"title": "Countess", "city": "London"}
    assert lead.first_name == "Ada"
    assert lead.last_name == "Lovelace"
    assert lead.company == "Analytical Engines"


def test_create_with_only_the_required_fields(client_all, campaign):
    response = client_all.post(LEADS, body_for(campaign))

    assert response.status_code == 201
    body = response.json()
    assert body["first_name"] == body["last_name"] == body["company"] == ""
    assert body["custom_fields"] == {}
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.first_name, lead.last_name, lead.company, lead.custom_fields) == ("", "", "", {})


def test_create_accepts_values_at_every_limit(client_all, campaign):
    custom = {f"{i:03d}".ljust(100, "k"): "v" * 1000 for i in range(50)}
    response = client_all.post(
        LEADS,
        body_for(
            campaign,
            first_name="f" * 200,
            last_name="l" * 200,
            company="c" * 200,
            custom_fields=custom,
        ),
    )

    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    assert lead.custom_fields == custom
    assert len(lead.first_name) == len(lead.last_name) == len(lead.company) == 200


LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 313 characters

INVALID_BODIES = [
    # (test id, change to a valid body (None value = remove the field), field that fails)
    ("email missing", {"email": None}, "email"),
    ("email not an address", {"email": "not-an-email"}, "email"),
    ("email without domain", {"email": "ada@"}, "email"),
    ("email blank", {"email": "   "}, "email"),
    ("email null", {"email": "__null__"}, "email"),
    ("email a number", {"email": 12345}, "email"),
    ("email an object", {"email": {"a": "b"}}, "email"),
    ("email too long", {"email": LONG_EMAIL}, "email"),
    ("email with NUL", {"email": "ada\x00@example.com"}, "email"),
    ("campaign_id missing", {"campaign_id": None}, "campaign_id"),
    ("campaign_id not a uuid", {"campaign_id": "abc"}, "campaign_id"),
    ("campaign_id null", {"campaign_id": "__null__"}, "campaign_id"),
    ("campaign_id a list", {"campaign_id": ["x"]}, "campaign_id"),
    ("campaign_id unknown", {"campaign_id": str(uuid.uuid4())}, "campaign_id"),
    ("first_name too long", {"first_name": "f" * 201}, "first_name"),
    ("last_name too long", {"last_name": "l" * 201}, "last_name"),
    ("company too long", {"company": "c" * 201}, "company"),
    ("first_name null", {"first_name": "__null__"}, "first_name"),
    ("company an object", {"company": {"name": "x"}}, "company"),
    ("last_name with NUL", {"last_name": "Love\x00lace"}, "last_name"),
    ("custom_fields a list", {"custom_fields": ["a"]}, "custom_fields"),
    ("custom_fields a string", {"custom_fields": "a=b"}, "custom_fields"),
    ("custom_fields null", {"custom_fields": "__null__"}, "custom_fields"),
    ("custom value a number", {"custom_fields": {"age": 42}}, "custom_fields"),
    ("custom value a boolean", {"custom_fields": {"vip": True}}, "custom_fields"),
    ("custom value null", {"custom_fields": {"title": None}}, "custom_fields"),
    ("custom value an object", {"custom_fields": {"a": {"b": "c"}}}, "custom_fields"),
    ("custom value a list", {"custom_fields": {"a": ["b"]}}, "custom_fields"),
    ("custom too many keys", {"custom_fields": {f"k{i}": "v" for i in range(51)}}, "custom_fields"),
    ("custom key too long", {"custom_fields": {"k" * 101: "v"}}, "custom_fields"),
    ("custom key empty", {"custom_fields": {"": "v"}}, "custom_fields"),
    ("custom value too long", {"custom_fields": {"bio": "v" * 1001}}, "custom_fields"),
    ("custom value with NUL", {"custom_fields": {"bio": "a\x00b"}}, "custom_fields"),
    ("custom key with NUL", {"custom_fields": {"a\x00b": "v"}}, "custom_fields"),
    ("unknown field", {"phone": "+44 20 7946 0000"}, "phone"),
    ("unknown field, misspelt", {"firstname": "Ada"}, "firstname"),
    ("read-only status", {"status": "CONTACTED"}, "status"),
    ("read-only id", {"id": str(uuid.uuid4())}, "id"),
    ("read-only created_at", {"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ("read-only engagement", {"engagement": {"sent": 3}}, "engagement"),
]


@pytest.mark.parametrize(
    ("change", "field"), [case[1:] for case in INVALID_BODIES], ids=[c[0] for c in INVALID_BODIES]
)
def test_create_refuses_invalid_input_and_saves_nothing(client_all, campaign, change, field):
    body = body_for(campaign, first_name="Ada")
    for name, value in change.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = None if value == "__null__" else value

    response = client_all.post(LEADS, body)

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field], errors
    assert isinstance(errors[field], list)
    assert errors[field]
    assert all(isinstance(message, str) and message for message in errors[field])
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"phone": "1"}, {"phone": ["Unknown field."]}),
        ({"status": "REPLIED"}, {"status": ["This field is read-only."]}),
        (
            {"custom_fields": {"age": 42}},
            {"custom_fields": ["The value of 'age' must be a string."]},
        ),
        (
            {"custom_fields": {f"k{i}": "v" for i in range(51)}},
            {"custom_fields": ["At most 50 custom fields are allowed."]},
        ),
        (
            {"custom_fields": {"k" * 101: "v"}},
            {"custom_fields": ["Keys must be 1 to 100 characters long."]},
        ),
        (
            {"custom_fields": {"bio": "v" * 1001}},
            {"custom_fields": ["The value of 'bio' is longer than 1000 characters."]},
        ),
        (
            {"custom_fields": ["a"]},
            {"custom_fields": ["Expected an object of string keys to string values."]},
        ),
        ({"email": "nope"}, {"email": ["Enter a valid email address."]}),
        ({"campaign_id": "abc"}, {"campaign_id": ["Must be a valid UUID."]}),
        ({"campaign_id": str(uuid.uuid4())}, {"campaign_id": CAMPAIGN_NOT_FOUND}),
    ],
)
def test_validation_messages(client_all, campaign, body, errors):
    response = client_all.post(LEADS, {**body_for(campaign), **body})

    assert response.status_code == 400
    assert response.json() == errors
    assert not Lead.objects.exists()


def test_every_problem_is_reported_at_once(client_all, campaign):
    response = client_all.post(
        LEADS, {"campaign_id": "abc", "email": "nope", "nickname": "x", "status": "PENDING"}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"campaign_id", "email", "nickname", "status"}
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"campaign_id": "%s", "email": "ada@example.com", "first_name": "\\ud800"}',
        b'{"campaign_id": "%s", "email": "ada@example.com", "custom_fields": {"a": "\\udfff"}}',
    ],
    ids=["lone surrogate in a name", "lone surrogate in a custom field"],
)
def test_text_that_cannot_be_stored_is_a_400(client_all, campaign, raw):
    response = client_all.post(
        LEADS, raw % str(campaign.pk).encode(), content_type="application/json"
    )

    assert response.status_code == 400
    assert "lone UTF-16 surrogate" in response.json()["detail"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'"ada@example.com"', b"{not json", b"null"],
    ids=["a list", "a string", "malformed", "null"],
)
def test_a_body_that_is_not_an_object_is_a_400(client_all, raw):
    response = client_all.post(LEADS, raw, content_type="application/json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert not Lead.objects.exists()


def test_campaign_of_another_workspace_is_a_400_and_saves_nothing(
    client_all, campaign, foreign_campaign
):
    response = client_all.post(LEADS, body_for(foreign_campaign))

    assert response.status_code == 400
    # Exactly the answer for an id that exists nowhere: no hint about other workspaces.
    assert response.json() == {"campaign_id": CAMPAIGN_NOT_FOUND}
    assert not Lead.objects.exists()


# --- duplicates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "second_email", ["ada@example.com", "ADA@Example.com", "  Ada@EXAMPLE.com  "]
)
def test_duplicate_email_in_the_campaign_is_a_409(client_all, campaign, second_email):
    first = client_all.post(LEADS, body_for(campaign, email="Ada@example.com", first_name="A"))
    assert first.status_code == 201

    response = client_all.post(LEADS, body_for(campaign, email=second_email, first_name="B"))

    assert response.status_code == 409
    assert response.json() == {
        "detail": "A lead with this email already exists in this campaign.",
        "code": "duplicate",
        "lead_id": first.json()["id"],
    }
    lead = Lead.objects.get()
    assert lead.first_name == "A"


def test_the_same_email_may_be_in_two_campaigns(client_all, campaign, second_campaign):
    first = client_all.post(LEADS, body_for(campaign))
    second = client_all.post(LEADS, body_for(second_campaign, email="ADA@example.com"))

    assert first.status_code == second.status_code == 201
    assert Lead.objects.filter(email="ada@example.com").count() == 2


def test_another_workspace_with_the_same_email_does_not_conflict(
    client_all, campaign, foreign_campaign
):
    make_lead(foreign_campaign, email="ada@example.com")

    response = client_all.post(LEADS, body_for(campaign))

    assert response.status_code == 201


# --- retrieve, isolation --------------------------------------------------------------------


def test_retrieve_returns_the_lead(client_all, campaign):
    lead = make_lead(
        campaign, email="ada@example.com", first_name="Ada", custom_fields={"x": "y"},
        status=Lead.Status.CONTACTED,
    )  # fmt: skip

    response = client_all.get(lead_url(lead.pk))
    response_slash = client_all.get(lead_url(lead.pk) + "/")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": str(lead.pk),
        "campaign_id": str(campaign.pk),
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "",
        "company": "",
        "custom_fields": {"x": "y"},
        "status": "CONTACTED",
        "current_step": 0,
        "next_send_at": None,
        "created_at": body["created_at"],
        "engagement": NO_ENGAGEMENT,
    }
    assert response_slash.status_code == 200
    assert response_slash.json() == body


@pytest.mark.parametrize("lead_id", ["abc", str(uuid.uuid4()), "0" * 40])
def test_unknown_or_malformed_id_is_a_404(client_all, lead_id):
    assert client_all.get(lead_url(lead_id)).json() == NOT_FOUND
    assert client_all.get(lead_url(lead_id)).status_code == 404
    assert client_all.delete(lead_url(lead_id)).status_code == 404


def test_another_workspaces_lead_is_invisible(client_all, campaign, foreign_campaign):
    mine = make_lead(campaign, email="ada@example.com")
    theirs = make_lead(foreign_campaign, email="grace@example.com")

    get = client_all.get(lead_url(theirs.pk))
    delete = client_all.delete(lead_url(theirs.pk))
    listed = client_all.get(LEADS)
    by_email = client_all.get(LEADS, {"email": "grace@example.com"})
    by_campaign = client_all.get(LEADS, {"campaign_id": str(foreign_campaign.pk)})

    assert (get.status_code, get.json()) == (404, NOT_FOUND)
    assert (delete.status_code, delete.json()) == (404, NOT_FOUND)
    assert Lead.objects.filter(pk=theirs.pk).exists()
    assert [lead["id"] for lead in listed.json()["results"]] == [str(mine.pk)]
    assert by_email.json()["results"] == []
    assert by_campaign.json()["results"] == []


# --- list filters ---------------------------------------------------------------------------


@pytest.fixture
def leads_for_filters(campaign, second_campaign) -> dict[str, Lead]:
    return {
        "ada": make_lead(campaign, email="ada@example.com"),
        "grace": make_lead(campaign, email="grace@example.com", status=Lead.Status.CONTACTED),
        "alan": make_lead(second_campaign, email="alan@example.com", status=Lead.Status.CONTACTED),
        "ada2": make_lead(second_campaign, email="ada@example.com", status=Lead.Status.REPLIED),
    }


def listed_ids(client, **params) -> list[str]:
    response = client.get(LEADS, params)
    assert response.status_code == 200, response.json()
    return [lead["id"] for lead in response.json()["results"]]


def ids_of(leads, *names) -> list[str]:
    return sorted((str(leads[n].pk) for n in names), reverse=True)


def test_list_without_filters_is_every_lead_newest_first(client_all, leads_for_filters):
    assert listed_ids(client_all) == ids_of(leads_for_filters, "ada", "grace", "alan", "ada2")


def test_filter_by_campaign(client_all, campaign, second_campaign, leads_for_filters):
    leads = leads_for_filters
    assert listed_ids(client_all, campaign_id=campaign.pk) == ids_of(leads, "ada", "grace")
    assert listed_ids(client_all, campaign_id=second_campaign.pk) == ids_of(leads, "alan", "ada2")
    assert listed_ids(client_all, campaign_id=uuid.uuid4()) == []


@pytest.mark.parametrize("status", Lead.Status.values)
def test_filter_by_status(client_all, leads_for_filters, status):
    expected = sorted(
        (str(lead.pk) for lead in leads_for_filters.values() if lead.status == status),
        reverse=True,
    )
    assert listed_ids(client_all, status=status) == expected


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.COM", "  ada@example.com "])
def test_filter_by_email_matches_the_normalised_address_exactly(
    client_all, leads_for_filters, email
):
    assert listed_ids(client_all, email=email) == ids_of(leads_for_filters, "ada", "ada2")


def test_email_filter_is_not_a_substring_search(client_all, leads_for_filters):
    make_lead(Lead.objects.first().campaign, email="ada@example.com.au")
    assert listed_ids(client_all, email="da@example.com") == []
    assert listed_ids(client_all, email="ada@example.com") == ids_of(
        leads_for_filters, "ada", "ada2"
    )


def test_filters_combine(client_all, campaign, second_campaign, leads_for_filters):
    leads = leads_for_filters
    assert listed_ids(client_all, campaign_id=campaign.pk, status="CONTACTED") == ids_of(
        leads, "grace"
    )
    assert listed_ids(client_all, campaign_id=second_campaign.pk, email="Ada@example.com") == (
        ids_of(leads, "ada2")
    )
    assert listed_ids(client_all, campaign_id=campaign.pk, status="REPLIED") == []


def test_empty_filter_values_are_ignored(client_all, leads_for_filters):
    assert len(listed_ids(client_all, campaign_id="", status="", email="")) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"campaign_id": "abc"}, "campaign_id"),
        ({"campaign_id": "123"}, "campaign_id"),
        ({"status": "NOPE"}, "status"),
        ({"status": "pending"}, "status"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "@example.com"}, "email"),
    ],
)
def test_invalid_filter_values_are_a_400(client_all, leads_for_filters, params, field):
    response = client_all.get(LEADS, params)

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert isinstance(errors[field], list)
    assert errors[field]


# --- delete ---------------------------------------------------------------------------------


def test_delete_a_pending_lead(client_all, campaign):
    lead = make_lead(campaign, email="ada@example.com")
    keep = make_lead(campaign, email="grace@example.com")

    response = client_all.delete(lead_url(lead.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert Lead.objects.filter(pk=keep.pk).exists()
    assert client_all.get(lead_url(lead.pk)).status_code == 404
    assert client_all.delete(lead_url(lead.pk)).status_code == 404


@pytest.mark.parametrize("status", [s for s in Lead.Status.values if s != Lead.Status.PENDING])
def test_delete_is_refused_unless_pending(client_all, campaign, status):
    lead = make_lead(campaign, email="ada@example.com", status=status)

    response = client_all.delete(lead_url(lead.pk))

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Only a PENDING lead can be deleted; this lead is {status}.",
        "code": "invalid_state",
        "status": status,
        "allowed": ["PENDING"],
    }
    lead.refresh_from_db()
    assert lead.status == status


def test_delete_then_create_again(client_all, campaign):
    first = client_all.post(LEADS, body_for(campaign))
    assert client_all.delete(lead_url(first.json()["id"])).status_code == 204

    again = client_all.post(LEADS, body_for(campaign))

    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


# --- no update ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_leads_cannot_be_updated(client_all, campaign, method):
    lead = make_lead(campaign, email="ada@example.com", first_name="Ada")

    response = getattr(client_all, method)(lead_url(lead.pk), {"first_name": "Grace"})

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    lead.refresh_from_db()
    assert lead.first_name == "Ada"


@pytest.mark.parametrize(
    ("method", "path"), [("put", "leads"), ("patch", "leads"), ("delete", "leads"), ("post", "x")]
)
def test_other_methods_are_405(client_all, campaign, method, path):
    lead = make_lead(campaign, email="ada@example.com")
    url = LEADS if path == "leads" else lead_url(lead.pk)

    response = getattr(client_all, method)(url, {})

    assert response.status_code == 405
    assert set(response.json()) == {"detail"}
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- scopes ---------------------------------------------------------------------------------


def test_read_only_key_cannot_create_or_delete(make_client, campaign):
    client = make_client(["leads:read"])
    lead = make_lead(campaign, email="ada@example.com")

    create = client.post(LEADS, body_for(campaign, email="grace@example.com"))
    delete = client.delete(lead_url(lead.pk))

    assert create.status_code == 403
    assert create.json() == {
        "detail": "Missing required scopes: leads:create",
        "required": ["leads:create"],
        "granted": ["leads:read"],
    }
    assert delete.status_code == 403
    assert delete.json()["required"] == ["leads:delete"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["ada@example.com"]
    assert client.get(lead_url(lead.pk)).status_code == 200


def test_create_only_key_cannot_read(make_client, campaign):
    client = make_client(["leads:create"])

    assert client.post(LEADS, body_for(campaign)).status_code == 201
    assert client.get(LEADS).status_code == 403
