"""Import limits (bytes, rows: 413, nothing stored) and the one-transaction guarantee: a database
failure in the middle of an import leaves nothing behind."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.models import Lead
from tests.urls import api_url

IMPORT = api_url("leads/import")


def upload(client: APIClient, campaign_id: object, data: bytes):
    return client.post(
        IMPORT,
        {"campaign_id": str(campaign_id), "file": SimpleUploadedFile("leads.csv", data)},
        format="multipart",
    )


def csv_of(count: int, start: int = 0) -> bytes:
    return (
        "email\n" + "".join(f"lead{i}@example.com\n" for i in range(start, start + count))
    ).encode()


def test_file_over_the_byte_limit_is_413(client_all, campaign):
    data = csv_of(100)
    with override_settings(LEADS_IMPORT_MAX_BYTES=len(data) - 1):
        response = upload(client_all, campaign.pk, data)

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The upload is larger than the limit of {len(data) - 1:,} bytes; "
        "nothing was imported."
    }
    assert not Lead.objects.exists()


def test_file_at_the_byte_limit_is_imported(client_all, campaign):
    data = csv_of(100)
    with override_settings(LEADS_IMPORT_MAX_BYTES=len(data)):
        response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201
    assert response.json()["created"] == 100


def test_body_far_over_the_byte_limit_is_413_before_it_is_read(client_all, campaign):
    data = csv_of(100) * 40  # ~100 KB: over the limit plus the multipart allowance
    with override_settings(LEADS_IMPORT_MAX_BYTES=1000):
        response = upload(client_all, campaign.pk, data)

    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert not Lead.objects.exists()


def test_campaign_is_checked_before_the_byte_limit(client_all, other_workspace):
    theirs = Campaign.objects.create(workspace=other_workspace, name="Theirs")
    data = csv_of(100)
    with override_settings(LEADS_IMPORT_MAX_BYTES=len(data) - 1):
        response = upload(client_all, theirs.pk, data)

    assert response.status_code == 404


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
def test_file_over_the_row_limit_is_413(client_all, campaign):
    response = upload(client_all, campaign.pk, csv_of(6))

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The import has more than 5 rows, the limit; nothing was imported."
    }
    assert not Lead.objects.exists()


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
def test_rows_at_the_limit_are_imported_and_blank_lines_do_not_count(client_all, campaign):
    data = csv_of(5).replace(b"\n", b"\n\n")

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 201
    assert response.json()["created"] == 5


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
def test_invalid_and_duplicate_rows_count_towards_the_row_limit(client_all, campaign):
    data = b"email\nbad\nbad\na@example.com\na@example.com\nb@example.com\nc@example.com\n"

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 413
    assert not Lead.objects.exists()


@override_settings(LEADS_IMPORT_MAX_ROWS=3)
def test_reading_stops_as_soon_as_the_row_limit_is_passed(client_all, campaign):
    # Past row 4 the file is not CSV at all; reading it would be a 400, so a 413 shows
    # the importer stopped at the limit.
    data = csv_of(4) + b'"' + b"x" * 200_000 + b"\n"

    response = upload(client_all, campaign.pk, data)

    assert response.status_code == 413
    assert not Lead.objects.exists()


def test_line_breaks_inside_quoted_cells_count_towards_the_line_limit(client_all, campaign):
    # Three rows, the first holding 200,000 line breaks in one quoted cell: few rows, few
    # bytes, but reading costs time per line.
    data = b'email,note\nann@example.com,"' + b"\n" * 200_000 + b'"\nbob@example.com,x\n'

    with override_settings(LEADS_IMPORT_MAX_LINES=100_000):
        response = upload(client_all, campaign.pk, data)

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The file has more than 100,000 lines (line breaks inside quoted cells "
        "count), the limit; nothing was imported."
    }
    assert not Lead.objects.exists()


def test_the_default_line_limit_leaves_room_for_multi_line_cells(client_all, campaign, settings):
    assert settings.LEADS_IMPORT_MAX_LINES == 5 * settings.LEADS_IMPORT_MAX_ROWS
    with override_settings(LEADS_IMPORT_MAX_LINES=8):
        data = b'email,address\nann@example.com,"1 Main St\nSpringfield\nUSA"\nbob@example.com,x\n'
        response = upload(client_all, campaign.pk, data)
    assert response.status_code == 201, response.content
    assert Lead.objects.count() == 2


@override_settings(LEADS_IMPORT_MAX_ROWS=5)
def test_json_over_the_row_limit_is_413(client_all, campaign):
    leads = [{"email": f"lead{i}@example.com"} for i in range(6)]

    response = client_all.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads})

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The import has more than 5 rows, the limit; nothing was imported."
    }
    assert not Lead.objects.exists()


def test_json_body_over_the_byte_limit_is_413(client_all, campaign):
    body = {"campaign_id": str(campaign.pk), "leads": [{"email": "a@example.com"}] * 50}
    size = len(json.dumps(body, separators=(",", ":")).encode())
    with override_settings(LEADS_IMPORT_MAX_BYTES=size - 1):
        response = client_all.post(IMPORT, body)

    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert not Lead.objects.exists()


@pytest.fixture
def boom_trigger() -> None:
    """Make the database itself refuse one email, as a constraint or a full disk would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'boom refused'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON leads_lead FOR EACH ROW "
                "WHEN (NEW.email = 'boom@example.com') EXECUTE FUNCTION refuse_boom()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON leads_lead "
                "WHEN NEW.email = 'boom@example.com' BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
            )


@pytest.fixture
def client(make_key) -> APIClient:
    """Answers a server error as a client sees it instead of raising it into the test."""
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=make_key(["leads:create"])[1])
    return client


def assert_server_error_without_trace(response) -> None:
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}


def test_a_database_failure_mid_import_stores_nothing(client, campaign, boom_trigger):
    # 5,000 rows on each side of the refused one: several insert batches go in before it.
    emails = [f"lead{i}@example.com" for i in range(5000)]
    emails += ["boom@example.com"] + [f"late{i}@example.com" for i in range(5000)]
    data = ("email\n" + "\n".join(emails) + "\n").encode()

    response = upload(client, campaign.pk, data)

    assert_server_error_without_trace(response)
    assert not Lead.objects.exists()

    # The same import without the refused row goes through whole.
    data = data.replace(b"boom@example.com\n", b"")
    response = upload(client, campaign.pk, data)
    assert response.status_code == 201
    assert response.json()["created"] == 10_000


def test_a_database_failure_mid_json_import_stores_nothing(client, campaign, boom_trigger):
    leads = [{"email": f"lead{i}@example.com"} for i in range(3000)]
    leads.insert(1500, {"email": "boom@example.com"})

    response = client.post(IMPORT, {"campaign_id": str(campaign.pk), "leads": leads})

    assert_server_error_without_trace(response)
    assert not Lead.objects.exists()
