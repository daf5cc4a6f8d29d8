"""POST leads/import with a CSV upload: encodings, delimiters, quoting, header aliases, custom
fields, duplicates, invalid rows with their line numbers, and files refused with 400."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.emails import normalize_email
from leads.importing import HEADER_ALIASES, MAX_ERRORS
from leads.models import Lead
from tests.factories import stored_leads
from tests.import_reports import error, report, upload
from tests.urls import api_url

IMPORT = api_url("leads/import")


def test_excel_semicolons_with_bom_and_crlf(client_all, campaign):
    data = (
        "\ufeffE-mail;First Name;Last Name;Company;Industry\r\n"
        "Ann.Lee@Example.com;Ann;Lee;Acme GmbH;Software\r\n"
        "bob@example.org;Bob;;Globex;\r\n"
    ).encode()

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    assert response.json() == report(created=2)
    leads = stored_leads(campaign)
    assert set(leads) == {"ann.lee@example.com", "bob@example.org"}
    ann = leads["ann.lee@example.com"]
    assert (ann.first_name, ann.last_name, ann.company) == ("Ann", "Lee", "Acme GmbH")
    assert ann.custom_fields == {"Industry": "Software"}
    assert leads["bob@example.org"].custom_fields == {}  # empty custom values are left out
    assert ann.status == Lead.Status.PENDING
    assert ann.workspace_id == campaign.workspace_id


def test_quoted_cells_hold_delimiters_quotes_and_line_breaks(client_all, campaign):
    data = (
        b"email,first_name,company,Notes\n"
        b'ann@example.com,Ann,"Acme, Inc.","line one\nline two, with ""quotes"""\n'
        b"not-an-email,Bob,Globex,x\n"
    )

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    # The record of line 2 spans lines 2-3, so the bad row starts on line 4.
    assert response.json() == report(
        created=1,
        invalid=1,
        errors=[{"row": 4, "email": "not-an-email", "error": "Enter a valid email address."}],
    )
    ann = stored_leads(campaign)["ann@example.com"]
    assert ann.company == "Acme, Inc."
    assert ann.custom_fields == {"Notes": 'line one\nline two, with "quotes"'}


def test_latin1_file_is_read_as_windows_1252(client_all, campaign):
    data = "email;first name;last name;company\nrene@example.com;René;Müller;Café “Zoë” €\n"

    response = upload(client_all, campaign.pk, data.encode("cp1252"))

    assert response.status_code == 201, response.content
    assert response.json() == report(created=1)
    lead = stored_leads(campaign)["rene@example.com"]
    assert (lead.first_name, lead.last_name, lead.company) == ("René", "Müller", "Café “Zoë” €")


def test_tab_separated(client_all, campaign):
    data = b"Email\tFirst Name\tCity, State\nann@example.com\tAnn\tAustin, TX\n"

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    lead = stored_leads(campaign)["ann@example.com"]
    assert lead.first_name == "Ann"
    assert lead.custom_fields == {"City, State": "Austin, TX"}


def test_delimiter_is_taken_from_the_header_outside_quotes(client_all, campaign):
    data = b'email;"Name, given";x\nann@example.com;Ann, A.;1\n'

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    assert stored_leads(campaign)["ann@example.com"].custom_fields == {
        "Name, given": "Ann, A.",
        "x": "1",
    }


# Every alias of the importer's table, written with other case, spaces and punctuation, plus
# the spellings users actually export.
HEADER_SPELLINGS = [
    *((field, alias) for field, aliases in HEADER_ALIASES.items() for alias in aliases),
    *(
        (field, f"  {alias.upper()} ")
        for field, aliases in HEADER_ALIASES.items()
        for alias in aliases
    ),
    ("email", "e-mail"),
    ("email", "e_mail"),
    ("email", "email_address"),
    ("email", "E-Mail-Address"),
    ("first_name", "firstname"),
    ("first_name", "first_name"),
    ("first_name", "Given-Name"),
    ("last_name", "Last.Name"),
    ("last_name", "lastname"),
    ("last_name", "family_name"),
    ("company", "company_name"),
    ("company", "ORGANISATION"),
]


@pytest.mark.parametrize(("field", "header"), HEADER_SPELLINGS)
def test_header_aliases_ignore_case_spaces_and_punctuation(client_all, campaign, field, header):
    other = {"email": "Email", "first_name": "First", "last_name": "Last", "company": "Org"}
    columns = {**{f: h for f, h in other.items() if f != field}, field: header}
    if field != "email":
        columns["email"] = "Email"
    values = {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "company": "Acme",
    }
    names = list(columns)
    lines = [",".join(f'"{columns[f]}"' for f in names), ",".join(values[f] for f in names)]

    response = upload(client_all, campaign.pk, ("\n".join(lines) + "\n").encode())

    assert response.status_code == 201, response.content
    lead = stored_leads(campaign)["ann@example.com"]
    assert getattr(lead, field) == values[field]
    # The other headers (First, Last, Org) are not aliases: they are custom fields.
    assert set(lead.custom_fields) == {columns[f] for f in names if f in other and f != field} - {
        "Email"
    }


def test_unknown_columns_become_custom_fields_under_their_trimmed_header(client_all, campaign):
    data = (
        b"email, Lead Source ,LinkedIn URL,\nann@example.com,  Webinar ,https://x.example/ann,z\n"
    )

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    # A column without a header is ignored.
    assert stored_leads(campaign)["ann@example.com"].custom_fields == {
        "Lead Source": "Webinar",
        "LinkedIn URL": "https://x.example/ann",
    }


def test_values_are_stored_as_given_without_formula_mangling(client_all, campaign):
    data = b"email,first_name,company,Formula\nann@example.com,=HYPERLINK(1),+Acme,@SUM(A1)\n"

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    lead = stored_leads(campaign)["ann@example.com"]
    assert (lead.first_name, lead.company) == ("=HYPERLINK(1)", "+Acme")
    assert lead.custom_fields == {"Formula": "@SUM(A1)"}


def test_duplicates_in_the_file_and_in_the_campaign_are_counted_not_listed(
    client_all, campaign, workspace
):
    Lead.objects.create(workspace=workspace, campaign=campaign, email="ann@example.com")
    other = Campaign.objects.create(workspace=workspace, name="Other")
    Lead.objects.create(workspace=workspace, campaign=other, email="cy@example.com")
    data = (
        b"email,first_name\n"
        b"ANN@example.com,Ann again\n"  # already in the campaign
        b"bob@example.com,Bob\n"
        b" Bob@Example.com ,Bob twice\n"  # earlier in the file
        b"cy@example.com,Cy\n"  # in another campaign only: not a duplicate
    )

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    assert response.json() == report(created=2, duplicates=2)
    leads = stored_leads(campaign)
    assert set(leads) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert leads["bob@example.com"].first_name == "Bob"  # the first occurrence wins
    assert leads["ann@example.com"].first_name == ""  # the existing lead is untouched


def test_importing_the_same_file_again_creates_nothing(client_all, campaign):
    data = b"email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n"
    assert upload(client_all, campaign.pk, data).json() == report(created=2)

    response = upload(client_all, campaign.pk, data.replace(b"Ann", b"Changed"))

    assert response.status_code == 201
    assert response.json() == report(duplicates=2)
    assert stored_leads(campaign)["ann@example.com"].first_name == "Ann"


def test_invalid_rows_are_listed_with_their_line_numbers(client_all, campaign):
    long = "x" * 201
    data = (
        "email,first_name,last_name,company\n"  # line 1
        "ok1@example.com,A,B,C\n"  # 2
        "\n"  # 3: blank, skipped but counted
        "not-an-email,A,B,C\n"  # 4
        ",No,Email,Here\n"  # 5
        f"long1@example.com,{long},B,C\n"  # 6
        f"long2@example.com,A,{long},C\n"  # 7
        f"long3@example.com,A,B,{long}\n"  # 8
        f"ok2@example.com,{'y' * 200},B,C\n"  # 9: 200 is allowed
        "too-many@example.com,A,B,C,extra\n"  # 10
        "trailing@example.com,A,B,C,,\n"  # 11: empty extra cells are fine
        "ann@@example.com,A,B,C\n"  # 12
    ).encode()

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    assert response.json() == report(
        created=3,
        invalid=7,
        errors=[
            error(4, "not-an-email", "Enter a valid email address."),
            error(5, "", "Missing email."),
            error(6, "long1@example.com", "first_name is longer than 200 characters."),
            error(7, "long2@example.com", "last_name is longer than 200 characters."),
            error(8, "long3@example.com", "company is longer than 200 characters."),
            error(10, "too-many@example.com", "The row has 5 values but the header has 4 columns."),
            error(12, "ann@@example.com", "Enter a valid email address."),
        ],
    )
    assert set(stored_leads(campaign)) == {
        "ok1@example.com",
        "ok2@example.com",
        "trailing@example.com",
    }


# Addresses at the edges of the rules; the expected outcome comes from the shared normaliser,
# so the importer's fast path must agree with it exactly.
TRICKY_EMAILS = [
    "plain@example.com",
    "  Mixed.Case+tag@Example.COM  ",
    "o'neil@example.ie",
    "x@localhost",
    "x@[127.0.0.1]",
    "x@[999.1.1.1]",
    '"quoted local"@example.com',
    "müller@example.de",
    "ann@bücher.de",
    "ann@example.c",
    "ann@example.123",
    "ann@xn--bcher-kva.de",
    "ann@example.xn--p1ai",
    "ann@-example.com",
    "ann@example-.com",
    "ann@exa_mple.com",
    "ann.@example.com",
    ".ann@example.com",
    "an..n@example.com",
    "ann@example..com",
    "ann@example.com.",
    "ann example@example.com",
    "ann@" + "a" * 64 + ".com",
    "ann@" + "a" * 63 + ".com",
    "a" * 245 + "@example.com",
    "a" * 242 + "@example.com",
    "\u017f@example.com",  # long s: upper-cases to S
    "ann@example.com\u00a0",
    "@example.com",
    "ann@",
    "ann",
]


def test_email_validity_matches_the_shared_normaliser(client_all, campaign):
    def expected(raw: str) -> str | None:
        try:
            return normalize_email(raw)
        except ValidationError:
            return None

    lines = ["email"] + [
        f'"{raw}"' if '"' not in raw else '"' + raw.replace('"', '""') + '"'
        for raw in TRICKY_EMAILS
    ]

    response = upload(client_all, campaign.pk, ("\n".join(lines) + "\n").encode())

    assert response.status_code == 201, response.content
    valid = {e for raw in TRICKY_EMAILS if (e := expected(raw)) is not None}
    invalid_rows = [row for row, raw in enumerate(TRICKY_EMAILS, start=2) if expected(raw) is None]
    body = response.json()
    assert [error["row"] for error in body["errors"]] == invalid_rows
    assert body["created"] == len(valid)
    assert set(stored_leads(campaign)) == valid
    assert 5 < len(valid) < len(TRICKY_EMAILS) - 5  # the table really has both kinds


def test_errors_are_capped_at_1000_but_counts_stay_exact(client_all, campaign):
    bad = [f"bad-{i}" for i in range(MAX_ERRORS + 205)]
    data = "email\n" + "".join(f"{e}\n" for e in bad) + "ok1@example.com\nok2@example.com\n"

    response = upload(client_all, campaign.pk, data.encode())

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["invalid"]) == (2, 0, MAX_ERRORS + 205)
    assert len(body["errors"]) == MAX_ERRORS
    assert body["errors"][0] == {
        "row": 2,
        "email": "bad-0",
        "error": "Enter a valid email address.",
    }
    assert body["errors"][-1]["row"] == MAX_ERRORS + 1


def test_blank_lines_and_rows_of_empty_cells_are_skipped_but_keep_their_line(client_all, campaign):
    data = b"\r\nemail;first name\r\n\r\nann@example.com;Ann\r\n;\r\n   \r\nbad;Bob\r\n\r\n"

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    # The header is on line 2, after a blank line; "bad" is on line 7.
    assert response.json() == report(
        created=1,
        invalid=1,
        errors=[{"row": 7, "email": "bad", "error": "Enter a valid email address."}],
    )


def test_header_only_file_imports_nothing(client_all, campaign):
    response = upload(client_all, campaign.pk, b"email,first_name\r\n")

    assert response.status_code == 201, response.content
    assert response.json() == report()


def test_ids_follow_the_file_order(client_all, campaign):
    emails = [f"lead{i:03}@example.com" for i in range(50)][::-1]
    data = ("email\n" + "\n".join(emails) + "\n").encode()

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    by_id = Lead.objects.filter(campaign=campaign).order_by("id").values_list("email", flat=True)
    assert list(by_id) == emails
    assert {lead.id.version for lead in Lead.objects.filter(campaign=campaign)} == {7}


@override_settings(FILE_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_file_spooled_to_disk_imports_the_same(client_all, campaign):
    emails = [f"lead{i}@example.com" for i in range(3000)]
    data = ("Email;Company\n" + "".join(f"{e};Co {i}\n" for i, e in enumerate(emails))).encode()

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201, response.content
    assert response.json() == report(created=3000)
    assert stored_leads(campaign)["lead2999@example.com"].company == "Co 2999"


REFUSED_FILES = [
    pytest.param(b"", "The file is empty.", id="empty"),
    pytest.param(b"\r\n\r\n\n", "The file has no header row.", id="blank-lines-only"),
    pytest.param(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "The file contains binary data, not CSV text.",
        id="png",
    ),
    pytest.param(
        b"email\nann@example.com\n\x00\x01\x02",
        "The file contains binary data, not CSV text.",
        id="nul-late-in-file",
    ),
    pytest.param(
        b"PK\x03\x04\x14\x00\x06\x00",
        "This is a spreadsheet workbook or an archive, not a CSV file: save it as CSV first.",
        id="xlsx",
    ),
    pytest.param(
        "email\nann@example.com\n".encode("utf-16"),
        "UTF-16 files are not supported: save the file as CSV UTF-8.",
        id="utf-16",
    ),
    pytest.param(
        b"email\n\x81\x8d@example.com\n",
        "The file is not text: it is neither UTF-8 nor Latin-1 (Windows-1252).",
        id="undecodable",
    ),
    pytest.param(
        b"name,company\nAnn,Acme\n",
        "The header has no email column (one of: Email, Email Address, E-mail, Mail).",
        id="no-email-column",
    ),
    pytest.param(
        b"Email,E-mail\na@example.com,b@example.com\n",
        "The columns 'Email' and 'E-mail' both mean email.",
        id="two-email-columns",
    ),
    pytest.param(
        b"email,Notes,Notes\na@example.com,1,2\n",
        "The header has the column 'Notes' twice.",
        id="duplicate-column",
    ),
    pytest.param(
        b'email\na@example.com\n"' + b"x" * 200_000 + b"\n",
        "Line 3 cannot be read as CSV: field larger than field limit (131072).",
        id="not-csv-giant-field",
    ),
]


@pytest.mark.parametrize(("data", "message"), REFUSED_FILES)
def test_unreadable_files_are_refused_and_nothing_is_stored(client_all, campaign, data, message):
    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 400, response.content
    assert response.json() == {"file": [message]}
    assert not Lead.objects.exists()


def test_no_file(client_all, campaign):
    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk)}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"file": ["No file was submitted."]}


def test_file_sent_as_a_text_field(client_all, campaign):
    body = {"campaign_id": str(campaign.pk), "file": "email\nann@example.com\n"}

    response = client_all.post(IMPORT, body, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"file": ["Send the CSV as a file (a form part with a filename)."]}
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("campaign_id", "errors"),
    [
        (None, {"campaign_id": ["This field is required."]}),
        ("not-a-uuid", {"campaign_id": ["Must be a valid UUID."]}),
    ],
)
def test_missing_or_malformed_campaign_id(client_all, campaign_id, errors):
    body = {"file": SimpleUploadedFile("leads.csv", b"email\nann@example.com\n")}
    if campaign_id is not None:
        body["campaign_id"] = campaign_id

    response = client_all.post(IMPORT, body, format="multipart")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Lead.objects.exists()


def test_campaign_of_another_workspace_is_not_found(client_all, other_workspace):
    theirs = Campaign.objects.create(workspace=other_workspace, name="Theirs")

    response = upload(client_all, theirs.pk, b"email\nann@example.com\n")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert not Lead.objects.exists()


def test_unknown_campaign_is_checked_before_the_file(client_all):
    response = client_all.post(
        IMPORT,
        {
            "campaign_id": "018f0000-0000-7000-8000-000000000000",
            "file": SimpleUploadedFile("x.csv", b""),
        },
        format="multipart",
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_key_without_leads_create_is_refused(make_client, campaign):
    client = make_client(["leads:read", "campaigns:all"])

    response = upload(client, campaign.pk, b"email\nann@example.com\n")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Missing required scopes: leads:create",
        "required": ["leads:create"],
        "granted": ["campaigns:all", "leads:read"],
    }
    assert not Lead.objects.exists()


@pytest.mark.parametrize("scopes", [["leads:create"], ["leads:all"], ["*"]])
def test_keys_granting_leads_create_may_import(make_client, campaign, scopes):
    response = upload(make_client(scopes), campaign.pk, b"email\nann@example.com\n")

    assert response.status_code == 201
    assert response.json() == report(created=1)


def test_no_key_is_unauthenticated(campaign):
    response = upload(APIClient(), campaign.pk, b"email\nann@example.com\n")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "API key required. Include your API key in X-API-Key header."
    }
    assert not Lead.objects.exists()


def test_trailing_slash_works_too(client_all, campaign):
    response = client_all.post(
        IMPORT + "/",
        {
            "campaign_id": str(campaign.pk),
            "file": SimpleUploadedFile("l.csv", b"email\na@example.com\n"),
        },
        format="multipart",
    )

    assert response.status_code == 201
    assert response.json() == report(created=1)
