"""The lead import stores nothing POST leads would refuse: its custom_fields rule applies to every
JSON lead and CSV row, and a CSV header that could only make invalid rows is a 400; a header
cell too large for the csv module is a 400 too, not a server error."""

import csv

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.models import Lead
from leads.values import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH, MAX_CUSTOM_VALUE_LENGTH
from tests.factories import stored_leads
from tests.import_reports import error, report, upload
from tests.urls import api_url

IMPORT = api_url("leads/import")
LEADS = api_url("leads")


def upload_text(client: APIClient, campaign: Campaign, text: str):
    return upload(client, campaign.pk, text.encode())


def import_json(client: APIClient, campaign: Campaign, leads: list):
    return client.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads}, format="json")


# Header cells beyond the csv module's field size limit


FIELD_LIMIT = csv.field_size_limit()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('"' + "a" * 200_000 + '"\nemail\nx@y.com\n', 1),
        ("\n\n" + '"' + "a" * 200_000 + '",email\nx@y.com\n', 3),
        ("email," + "b" * (FIELD_LIMIT + 1) + "\nx@y.com,1\n", 1),
    ],
    ids=["quoted header cell", "after blank lines", "unquoted header cell"],
)
def test_a_header_cell_over_the_csv_field_limit_is_a_400(client_all, campaign, text, line):
    response = upload_text(client_all, campaign, text)

    assert response.status_code == 400
    assert response.json() == {
        "file": [
            f"Line {line} cannot be read as CSV: field larger than field limit ({FIELD_LIMIT})."
        ]
    }
    assert not Lead.objects.exists()


# custom_fields: one rule for POST leads and the import (JSON and CSV rows)

REFUSED_CUSTOM_FIELDS = {
    "too many keys": (
        {f"k{i}": "v" for i in range(MAX_CUSTOM_FIELDS + 1)},
        f"At most {MAX_CUSTOM_FIELDS} custom fields are allowed.",
    ),
    "empty key": ({"": "v"}, f"Keys must be 1 to {MAX_CUSTOM_KEY_LENGTH} characters long."),
    "key too long": (
        {"k" * (MAX_CUSTOM_KEY_LENGTH + 1): "v"},
        f"Keys must be 1 to {MAX_CUSTOM_KEY_LENGTH} characters long.",
    ),
    "value too long": (
        {"Notes": "n" * (MAX_CUSTOM_VALUE_LENGTH + 1)},
        f"The value of 'Notes' is longer than {MAX_CUSTOM_VALUE_LENGTH} characters.",
    ),
}


@pytest.mark.parametrize(
    ("custom_fields", "message"),
    REFUSED_CUSTOM_FIELDS.values(),
    ids=REFUSED_CUSTOM_FIELDS.keys(),
)
def test_custom_fields_post_leads_refuses_are_an_invalid_row_in_a_json_import(
    client_all, campaign, custom_fields, message
):
    body = {"campaign_id": str(campaign.pk), "email": "ann@example.com"}
    refused = client_all.post(LEADS, {**body, "custom_fields": custom_fields}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"custom_fields": [message]}

    response = import_json(
        client_all,
        campaign,
        [
            {"email": "ann@example.com", "custom_fields": custom_fields},
            {"email": "bob@example.com", "custom_fields": {"Plan": "pro"}},
        ],
    )

    assert response.status_code == 201
    assert response.json() == report(
        created=1, invalid=1, errors=[error(1, "ann@example.com", f"custom_fields: {message}")]
    )
    assert list(stored_leads(campaign)) == ["bob@example.com"]


def test_custom_fields_at_every_limit_are_imported_from_json(client_all, campaign):
    at_limits = {f"k{i}": "v" for i in range(MAX_CUSTOM_FIELDS - 2)}
    at_limits["K" * MAX_CUSTOM_KEY_LENGTH] = "v"
    at_limits["Notes"] = "n" * MAX_CUSTOM_VALUE_LENGTH
    assert len(at_limits) == MAX_CUSTOM_FIELDS
    body = {"campaign_id": str(campaign.pk), "email": "post@example.com"}
    accepted = client_all.post(LEADS, {**body, "custom_fields": at_limits}, format="json")
    assert accepted.status_code == 201

    response = import_json(
        client_all, campaign, [{"email": "ann@example.com", "custom_fields": at_limits}]
    )

    assert response.status_code == 201
    assert response.json() == report(created=1)
    assert stored_leads(campaign)["ann@example.com"].custom_fields == at_limits


def test_a_csv_cell_over_the_custom_value_limit_makes_its_row_invalid(client_all, campaign):
    text = (
        "Email,Notes,Plan\n"
        f"ann@example.com,{'n' * (MAX_CUSTOM_VALUE_LENGTH + 1)},pro\n"
        f"bob@example.com,{'n' * MAX_CUSTOM_VALUE_LENGTH},free\n"
        # Trimmed before it is judged, as it is stored.
        f"cy@example.com,  {'n' * MAX_CUSTOM_VALUE_LENGTH}  ,\n"
    )

    response = upload_text(client_all, campaign, text)

    assert response.status_code == 201
    message = f"The value of 'Notes' is longer than {MAX_CUSTOM_VALUE_LENGTH} characters."
    assert response.json() == report(
        created=2, invalid=1, errors=[error(2, "ann@example.com", f"custom_fields: {message}")]
    )
    leads = stored_leads(campaign)
    assert set(leads) == {"bob@example.com", "cy@example.com"}
    assert leads["bob@example.com"].custom_fields == {
        "Notes": "n" * MAX_CUSTOM_VALUE_LENGTH,
        "Plan": "free",
    }
    assert leads["cy@example.com"].custom_fields == {"Notes": "n" * MAX_CUSTOM_VALUE_LENGTH}


def test_a_csv_header_of_the_longest_custom_field_name_is_imported(client_all, campaign):
    # Surrounding spaces are trimmed off the name, so they do not count.
    header = "H" * MAX_CUSTOM_KEY_LENGTH

    response = upload_text(client_all, campaign, f"Email,  {header}  \nann@example.com,x\n")

    assert response.status_code == 201
    assert response.json() == report(created=1)
    assert stored_leads(campaign)["ann@example.com"].custom_fields == {header: "x"}


LONG_HEADER = "H" * (MAX_CUSTOM_KEY_LENGTH + 1)
TOO_MANY_COLUMNS = [f"c{i}" for i in range(MAX_CUSTOM_FIELDS + 1)]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            ["Email", LONG_HEADER],
            f"The column '{LONG_HEADER[:40]}…' is not a lead field and its header is longer "
            f"than {MAX_CUSTOM_KEY_LENGTH} characters, the limit for a custom field name.",
        ),
        (
            ["Email", *TOO_MANY_COLUMNS],
            f"The header has {MAX_CUSTOM_FIELDS + 1} columns that are not lead fields; they "
            f"become custom fields, of which a lead may have at most {MAX_CUSTOM_FIELDS}.",
        ),
    ],
    ids=["header too long for a custom field name", "more custom columns than allowed"],
)
def test_a_csv_header_that_makes_every_row_invalid_is_a_400(client_all, campaign, header, message):
    row = ["ann@example.com"] + ["x"] * (len(header) - 1)

    response = upload_text(client_all, campaign, ",".join(header) + "\n" + ",".join(row) + "\n")

    assert response.status_code == 400
    assert response.json() == {"file": [message]}
    assert not Lead.objects.exists()


def test_lead_fields_and_unnamed_columns_do_not_count_as_custom_fields(client_all, campaign):
    custom = [f"c{i}" for i in range(MAX_CUSTOM_FIELDS)]
    header = ["Email", "First Name", "Last Name", "Company", *custom, "", " "]
    row = [
        "ann@example.com",
        "Ann",
        "Lee",
        "Acme",
        *(f"v{i}" for i in range(len(custom))),
        "z",
        "z",
    ]

    response = upload_text(client_all, campaign, ",".join(header) + "\n" + ",".join(row) + "\n")

    assert response.status_code == 201
    assert response.json() == report(created=1)
    lead = stored_leads(campaign)["ann@example.com"]
    assert lead.custom_fields == {name: f"v{i}" for i, name in enumerate(custom)}
    assert (lead.first_name, lead.last_name, lead.company) == ("Ann", "Lee", "Acme")
