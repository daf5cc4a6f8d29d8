"""Import bodies are refused early, before they cost memory (issue 12, finding 3): a JSON import
is read in one streaming pass, so `leads` is counted (413 past LEADS_IMPORT_MAX_ROWS, whatever
its items are) and nesting deeper than a lead can hold, or a lead with more values than
MAX_VALUES_PER_LEAD, is a 400; a CSV header wider than LEADS_IMPORT_MAX_COLUMNS is a 400.
Nothing is imported in any of these cases. (Memory itself is measured by bench/import_memory.)"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from leads.importing.parse_json import MAX_VALUES_PER_LEAD
from leads.models import Lead
from tests.urls import api_url

IMPORT = api_url("leads/import")
TOO_DEEP = (
    "The JSON is nested too deeply for leads: a lead's values are strings, or one object of "
    "strings (custom_fields)."
)


def post_json(client, body: str):
    return client.post(IMPORT, body, content_type="application/json")


def leads_body(campaign_id: object, items: list[str], campaign_last: bool = False) -> str:
    leads = f'"leads": [{", ".join(items)}]'
    campaign = f'"campaign_id": "{campaign_id}"'
    return "{" + (f"{leads}, {campaign}" if campaign_last else f"{campaign}, {leads}") + "}"


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
@pytest.mark.parametrize("item", ["{}", '{"":{}}', "[]", '"x"', '{"email": "a@example.com"}'])
@pytest.mark.parametrize("campaign_last", [False, True])
def test_more_items_than_the_row_limit_are_413_whatever_they_are(
    client_all, campaign, item, campaign_last
):
    response = post_json(client_all, leads_body(campaign.pk, [item] * 6, campaign_last))
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The import has more than 5 rows, the limit; nothing was imported."
    }
    assert Lead.objects.count() == 0


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
def test_the_campaign_is_still_checked_first(client_all, foreign_campaign):
    body = leads_body(foreign_campaign.pk, ["{}"] * 6, campaign_last=True)
    assert post_json(client_all, body).status_code == 404


@pytest.mark.parametrize(
    "item",
    [
        '{"email": "a@example.com", "custom_fields": {"k": {"nested": "v"}}}',
        '{"email": "a@example.com", "custom_fields": {"k": ["v"]}}',
        '[[["a@example.com"]]]',
        "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
    ],
)
def test_nesting_deeper_than_a_lead_is_400(client_all, campaign, item):
    response = post_json(client_all, leads_body(campaign.pk, ['{"email": "ok@example.com"}', item]))
    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}
    assert Lead.objects.count() == 0


def test_nesting_outside_leads_is_400_too(client_all, campaign):
    body = f'{{"campaign_id": "{campaign.pk}", "extra": [[[[["x"]]]]], "leads": []}}'
    assert post_json(client_all, body).json() == {"detail": TOO_DEEP}


def test_a_lead_with_more_values_than_a_lead_can_hold_is_400(client_all, campaign):
    fields = ", ".join(f'"k{i}": "v"' for i in range(MAX_VALUES_PER_LEAD))
    item = f'{{"email": "a@example.com", "custom_fields": {{{fields}}}}}'
    response = post_json(client_all, leads_body(campaign.pk, ['{"email": "b@example.com"}', item]))
    assert response.status_code == 400
    assert response.json() == {
        "leads": [
            f"Lead 2 holds more than {MAX_VALUES_PER_LEAD:,} values; a lead has a few fields and "
            "at most 50 custom fields."
        ]
    }
    assert Lead.objects.count() == 0


def test_a_lead_with_too_many_custom_fields_but_few_values_is_an_invalid_row(client_all, campaign):
    fields = ", ".join(f'"k{i}": "v"' for i in range(51))
    item = f'{{"email": "a@example.com", "custom_fields": {{{fields}}}}}'
    response = post_json(client_all, leads_body(campaign.pk, [item, '{"email": "b@example.com"}']))
    assert response.status_code == 201
    assert (response.json()["created"], response.json()["invalid"]) == (1, 1)


def test_leads_given_twice_is_400(client_all, campaign):
    body = (
        f'{{"campaign_id": "{campaign.pk}", "leads": [{{"email": "a@example.com"}}], '
        '"leads": [{"email": "b@example.com"}]}'
    )
    response = post_json(client_all, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "The body has the key 'leads' twice."}
    assert Lead.objects.count() == 0


def test_malformed_json_is_400(client_all, campaign):
    response = post_json(client_all, f'{{"campaign_id": "{campaign.pk}", "leads": [{{}},]}}')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


def test_escaped_surrogate_pairs_are_text_and_lone_ones_refuse_the_body(client_all, campaign):
    pair = r'{"email": "a@example.com", "first_name": "\ud83d\ude00 Ann", "company": "\\ud800"}'
    response = post_json(client_all, leads_body(campaign.pk, [pair]))
    assert response.status_code == 201
    assert (response.json()["created"], response.json()["invalid"]) == (1, 0)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company) == ("\U0001f600 Ann", "\\ud800")

    for lone in (r'{"email": "b@example.com", "first_name": "\ud83d"}',
                 r'{"email": "c@example.com", "last_name": "x\udc00"}'):  # fmt: skip
        response = post_json(client_all, leads_body(campaign.pk, [pair, lone]))
        assert response.status_code == 400
        assert "lone UTF-16 surrogate" in response.json()["detail"]
    assert Lead.objects.count() == 1


def upload(client, campaign_id: object, data: bytes):
    return client.post(
        IMPORT,
        {"campaign_id": str(campaign_id), "file": SimpleUploadedFile("leads.csv", data)},
        format="multipart",
    )


@override_settings(LEADS_IMPORT_MAX_COLUMNS=10)
def test_a_csv_header_wider_than_the_limit_is_400(client_all, campaign):
    header = ",".join(["email", *(f"c{i}" for i in range(10))])
    response = upload(client_all, campaign.pk, f"{header}\na@example.com\n".encode())
    assert response.status_code == 400
    assert response.json() == {
        "file": ["The header has more than 10 columns, the limit (LEADS_IMPORT_MAX_COLUMNS)."]
    }
    assert Lead.objects.count() == 0


@override_settings(LEADS_IMPORT_MAX_COLUMNS=10)
def test_a_csv_header_at_the_limit_is_imported(client_all, campaign):
    # ten columns; the quoted header's commas do not count
    header = ",".join(["email", '"a, b, c, d, e, f"', *(f"c{i}" for i in range(8))])
    response = upload(client_all, campaign.pk, f"{header}\na@example.com\n".encode())
    assert response.status_code == 201
    assert response.json()["created"] == 1


@override_settings(LEADS_IMPORT_MAX_COLUMNS=3)
def test_a_csv_row_with_far_more_values_than_columns_is_400(client_all, campaign):
    data = b"email,name\na@example.com,Ann\nb@example.com" + b"," * 31 + b"\n"
    response = upload(client_all, campaign.pk, data)
    assert response.status_code == 400
    assert response.json() == {
        "file": [
            "Line 3 holds more than 30 ',' characters in one row; a row may have at most 3 columns."
        ]
    }
    assert Lead.objects.count() == 0


@override_settings(LEADS_IMPORT_MAX_COLUMNS=3)
def test_the_row_width_counts_across_the_lines_of_a_quoted_cell(client_all, campaign):
    wide = b"x," * 20 + b'"\n"' + b",x" * 20  # one row on two lines, 41 delimiters
    response = upload(client_all, campaign.pk, b"email,name\na@example.com," + wide + b"\n")
    assert response.status_code == 400
    # within the margin the row is read as usual: extra values make it an invalid row
    response = upload(client_all, campaign.pk, b"email,name\na@example.com,Ann,x,y\n")
    assert (response.status_code, response.json()["invalid"]) == (201, 1)
