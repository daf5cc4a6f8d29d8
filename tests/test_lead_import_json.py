"""POST leads/import with a JSON body: `{"campaign_id": …, "leads": [{…}, …]}`; leads are
numbered from 1, and a malformed item is an invalid row, not a 400."""

import pytest

from campaigns.models import Campaign
from leads.models import Lead
from tests.import_reports import error, report
from tests.urls import api_url

IMPORT = api_url("leads/import")


def test_leads_are_created_with_every_field(client_all, campaign):
    leads = [
        {
            "email": " Ann@Example.com ",
            "first_name": "Ann",
            "last_name": "Lee",
            "company": "Acme",
            "custom_fields": {"Industry": "Software", "Plan": "pro"},
        },
        {"email": "bob@example.com"},
    ]

    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads})

    assert response.status_code == 201, response.content
    assert response.json() == report(created=2)
    ann = Lead.objects.get(campaign=campaign, email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.company) == ("Ann", "Lee", "Acme")
    assert ann.custom_fields == {"Industry": "Software", "Plan": "pro"}
    assert ann.status == Lead.Status.PENDING
    assert ann.workspace_id == campaign.workspace_id
    bob = Lead.objects.get(campaign=campaign, email="bob@example.com")
    assert (bob.first_name, bob.custom_fields) == ("", {})


def test_malformed_items_are_invalid_rows_numbered_from_one(client_all, campaign):
    leads = [
        {"email": "ok@example.com"},  # 1
        "ann@example.com",  # 2
        None,  # 3
        ["ann@example.com"],  # 4
        {"email": 42},  # 5
        {"email": "x@example.com", "first_name": None},  # 6
        {"email": "y@example.com", "custom_fields": ["a"]},  # 7
        {"email": "z@example.com", "custom_fields": {"n": 1}},  # 8
        {"email": "w@example.com", "phone": "123"},  # 9
        {"first_name": "No email"},  # 10
        {"email": "nope"},  # 11
        {"email": "v@example.com", "company": "c" * 201},  # 12
    ]

    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads})

    assert response.status_code == 201, response.content
    assert response.json() == report(
        created=1,
        invalid=11,
        errors=[
            error(2, "", "Each lead must be an object."),
            error(3, "", "Each lead must be an object."),
            error(4, "", "Each lead must be an object."),
            error(5, "", "email must be a string."),
            error(6, "x@example.com", "first_name must be a string."),
            error(7, "y@example.com", "custom_fields must be an object of strings."),
            error(8, "z@example.com", "custom_fields must be an object of strings."),
            error(9, "w@example.com", "Unknown field 'phone': put extra values in custom_fields."),
            error(10, "", "Missing email."),
            error(11, "nope", "Enter a valid email address."),
            error(12, "v@example.com", "company is longer than 200 characters."),
        ],
    )
    assert list(Lead.objects.values_list("email", flat=True)) == ["ok@example.com"]


def test_duplicates_in_the_list_and_in_the_campaign(client_all, campaign, workspace):
    Lead.objects.create(workspace=workspace, campaign=campaign, email="ann@example.com")
    leads = [
        {"email": "ANN@example.com"},
        {"email": "bob@example.com", "first_name": "First"},
        {"email": "Bob@example.com", "first_name": "Second"},
    ]

    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads})

    assert response.status_code == 201, response.content
    assert response.json() == report(created=1, duplicates=2)
    assert Lead.objects.get(campaign=campaign, email="bob@example.com").first_name == "First"
    assert Lead.objects.filter(campaign=campaign).count() == 2


def test_empty_list_imports_nothing(client_all, campaign):
    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": []})

    assert response.status_code == 201
    assert response.json() == report()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"leads": [{"email": "a@example.com"}]}, {"campaign_id": ["This field is required."]}),
        (
            {"campaign_id": "nope", "leads": [{"email": "a@example.com"}]},
            {"campaign_id": ["Must be a valid UUID."]},
        ),
        ({"campaign_id": "CAMPAIGN"}, {"leads": ["This field is required."]}),
        (
            {"campaign_id": "CAMPAIGN", "leads": {"email": "a@example.com"}},
            {"leads": ["Expected a list of lead objects."]},
        ),
        (
            {"campaign_id": "CAMPAIGN", "leads": None},
            {"leads": ["Expected a list of lead objects."]},
        ),
    ],
)
def test_malformed_bodies_are_400_and_store_nothing(client_all, campaign, body, errors):
    if body.get("campaign_id") == "CAMPAIGN":
        body["campaign_id"] = str(campaign.pk)

    response = client_all.post(IMPORT, body)

    assert response.status_code == 400
    assert response.json() == errors
    assert not Lead.objects.exists()


def test_a_list_body_is_400(client_all):
    response = client_all.post(IMPORT, [{"email": "a@example.com"}])

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


def test_campaign_of_another_workspace_is_not_found_before_the_body_is_checked(
    client_all, other_workspace
):
    theirs = Campaign.objects.create(workspace=other_workspace, name="Theirs")

    response = client_all.post(IMPORT, {"campaign_id": str(theirs.pk), "leads": "not a list"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert not Lead.objects.exists()


def test_key_without_leads_create_is_refused(make_client, campaign):
    client = make_client(["leads:read"])

    response = client.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": []})

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: leads:create",
        "required": ["leads:create"],
        "granted": ["leads:read"],
    }


def test_other_content_types_are_refused(client_all, campaign):
    response = client_all.post(
        IMPORT, f"campaign_id={campaign.pk}", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert not Lead.objects.exists()
