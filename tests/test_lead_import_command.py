"""`manage.py import_leads FILE --campaign ID`: the API's pipeline from the shell, the report
as JSON on stdout, a progress bar on stderr, and a non-zero exit with a message on failure."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from campaigns.models import Campaign
from leads.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(other_workspace) -> Campaign:
    # Any workspace: the shell is trusted, only the campaign has to exist.
    return Campaign.objects.create(workspace=other_workspace, name="Spring outreach")


def run(path: object, campaign_id: object) -> str:
    out = io.StringIO()
    call_command("import_leads", str(path), campaign=str(campaign_id), stdout=out)
    return out.getvalue()


def test_imports_the_file_and_prints_the_report(tmp_path, campaign, capsys):
    path = tmp_path / "leads.csv"
    path.write_bytes(
        "\ufeffEmail;First Name;Company;Source\r\n"
        "ann@example.com;Ann;Acme;Fair\r\n"
        "ANN@example.com;Ann again;Acme;Fair\r\n"
        "\r\n"
        "broken;Bob;Globex;Web\r\n".encode()
    )

    out = run(path, campaign.pk)

    assert json.loads(out) == {
        "created": 1,
        "suppressed": 0,
        "duplicates": 1,
        "invalid": 1,
        "errors": [{"row": 5, "email": "broken", "error": "Enter a valid email address."}],
    }
    lead = Lead.objects.get(campaign=campaign)
    assert (lead.email, lead.first_name, lead.company) == ("ann@example.com", "Ann", "Acme")
    assert lead.custom_fields == {"Source": "Fair"}
    assert lead.workspace_id == campaign.workspace_id
    assert "leads.csv" in capsys.readouterr().err  # the progress bar


def test_large_file_reports_progress_to_the_end(tmp_path, campaign, capsys):
    path = tmp_path / "big.csv"
    path.write_text("email\n" + "".join(f"lead{i}@example.com\n" for i in range(5000)))

    out = run(path, campaign.pk)

    assert json.loads(out)["created"] == 5000
    assert "100%" in capsys.readouterr().err


UNKNOWN = "018f0000-0000-7000-8000-000000000000"


@pytest.mark.parametrize(
    ("campaign_id", "message"),
    [
        (UNKNOWN, f"Campaign {UNKNOWN} not found."),
        ("nope", "--campaign 'nope' is not a campaign id (a UUID)."),
    ],
)
def test_unknown_campaign_exits_with_a_message(tmp_path, campaign_id, message):
    path = tmp_path / "leads.csv"
    path.write_text("email\nann@example.com\n")

    with pytest.raises(CommandError, match=f"^{re.escape(message)}$"):
        run(path, campaign_id)
    assert not Lead.objects.exists()


def test_missing_file_exits_with_a_message(tmp_path, campaign):
    with pytest.raises(CommandError, match=r"Cannot open .*nope\.csv: No such file or directory"):
        run(tmp_path / "nope.csv", campaign.pk)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01binary", "The file contains binary data, not CSV text."),
        (b"", "The file is empty."),
        (b"name\nAnn\n", "The header has no email column"),
    ],
)
def test_unreadable_file_exits_with_a_message_and_stores_nothing(tmp_path, campaign, data, message):
    path = tmp_path / "leads.csv"
    path.write_bytes(data)

    with pytest.raises(CommandError, match=message):
        run(path, campaign.pk)
    assert not Lead.objects.exists()


@override_settings(LEADS_IMPORT_MAX_ROWS=3)
def test_over_the_row_limit_exits_and_stores_nothing(tmp_path, campaign):
    path = tmp_path / "leads.csv"
    path.write_text("email\n" + "".join(f"lead{i}@example.com\n" for i in range(4)))

    with pytest.raises(CommandError, match="more than 3 rows"):
        run(path, campaign.pk)
    assert not Lead.objects.exists()


@override_settings(LEADS_IMPORT_MAX_BYTES=20)
def test_over_the_byte_limit_exits_and_stores_nothing(tmp_path, campaign):
    path = tmp_path / "leads.csv"
    path.write_text("email\nann@example.com\nbob@example.com\n")

    with pytest.raises(CommandError, match="larger than the limit of 20 bytes"):
        run(path, campaign.pk)
    assert not Lead.objects.exists()
