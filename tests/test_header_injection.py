"""CR or LF is a 400 in the texts that go into mail headers: a step `subject`, a campaign
`name`, a sender `display_name` (API.md §7), wherever it is in the text (a leading or trailing
line break is not trimmed away first). Lead fields keep their text: imports may hold multi-line
cells, and the engine replaces control characters in anything it renders into a header."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from campaigns.models import Campaign, CampaignStep
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import api_url

CAMPAIGNS = api_url("campaigns")
BREAKS = ["Hi\r\nBcc: all@example.com", "Hi\nthere", "Hi\rthere", "Hi\n", "\r\nHi", "\n"]
# Invisible characters that change how a header reads: line and paragraph separators, NEL, the
# bidi overrides and isolates, zero-width and other format characters.
INVISIBLE = {
    "Hi\u2028there": "U+2028 (LINE SEPARATOR)",
    "Hi\u2029there": "U+2029 (PARAGRAPH SEPARATOR)",
    "Hi\u0085there": "U+0085 (a control character)",
    "Sales \u202egnp.exe": "U+202E (RIGHT-TO-LEFT OVERRIDE)",
    "\u2066Sales\u2069": "U+2066 (LEFT-TO-RIGHT ISOLATE)",
    "Sa\u200bles": "U+200B (ZERO WIDTH SPACE)",
    "\ufeffSales": "U+FEFF (ZERO WIDTH NO-BREAK SPACE)",
    "Sales\u061c": "U+061C (ARABIC LETTER MARK)",
}
STEP = {"subject": "Hi", "body": "Hello\r\nthere,\n\nbye"}


@pytest.mark.parametrize("text", BREAKS)
def test_a_campaign_name_with_a_line_break_is_refused(client_all, campaign, text):
    created = client_all.post(CAMPAIGNS, {"name": text})
    assert created.status_code == 400, created.content
    assert created.json() == {"name": ["Must be a single line: CR and LF are not allowed."]}
    url = api_url(f"campaigns/{campaign.pk}")
    assert client_all.patch(url, {"name": text}).status_code == 400
    assert client_all.put(url, {"name": text}).status_code == 400
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Spring outreach"]


@pytest.mark.parametrize("text", BREAKS)
def test_a_step_subject_with_a_line_break_is_refused(client_all, campaign, text):
    steps = [STEP, {**STEP, "subject": text}]
    created = client_all.post(CAMPAIGNS, {"name": "Spring", "steps": steps})
    assert created.status_code == 400, created.content
    assert created.json() == {
        "steps": {"1": {"subject": ["Must be a single line: CR and LF are not allowed."]}}
    }
    patched = client_all.patch(api_url(f"campaigns/{campaign.pk}"), {"steps": steps})
    assert patched.status_code == 400
    assert Campaign.objects.count() == 1
    assert not CampaignStep.objects.exists()


@pytest.mark.parametrize("text", [*BREAKS, "Sales\x00Team", "Sales\tTeam", "Sales\x1b"])
def test_a_display_name_with_a_line_break_or_control_is_refused(client_all, text):
    body = {"type": "NATIVE", "email": "hello@example.com", "display_name": text}
    response = client_all.post(api_url("sender_accounts"), body)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["display_name"]
    assert not SenderAccount.objects.exists()


@pytest.mark.parametrize(("text", "named"), INVISIBLE.items())
def test_an_invisible_character_is_refused_where_line_breaks_are(client_all, campaign, text, named):
    message = f"Must not contain invisible characters: {named}."
    created = client_all.post(CAMPAIGNS, {"name": text})
    assert (created.status_code, created.json()) == (400, {"name": [message]})
    steps = [STEP, {**STEP, "subject": text}]
    created = client_all.post(CAMPAIGNS, {"name": "Spring", "steps": steps})
    assert created.json() == {"steps": {"1": {"subject": [message]}}}
    assert client_all.patch(api_url(f"campaigns/{campaign.pk}"), {"name": text}).status_code == 400
    account = {"type": "NATIVE", "email": "hello@example.com", "display_name": text}
    response = client_all.post(api_url("sender_accounts"), account)
    if "\x85" in text:  # a C1 control: a display name refuses every control character
        message = "Must not contain line breaks or control characters."
    assert (response.status_code, response.json()) == (400, {"display_name": [message]})
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Spring outreach"]
    assert not CampaignStep.objects.exists()
    assert not SenderAccount.objects.exists()


def test_one_line_texts_and_multi_line_bodies_are_accepted(client_all):
    # Visible non-ASCII text stays welcome: accents, right-to-left script, emoji.
    accepted = client_all.post(CAMPAIGNS, {"name": "Café שלום 🚀 Ünïcode"})
    assert accepted.status_code == 201, accepted.content
    body = {"name": "  Spring  outreach  ", "steps": [{**STEP, "subject": "Hi {{first_name}}"}]}
    response = client_all.post(CAMPAIGNS, body)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Spring  outreach"
    assert response.json()["steps"][0]["body"] == STEP["body"]


def test_lead_fields_keep_their_line_breaks(client_all, campaign):
    body = {
        "campaign_id": str(campaign.pk),
        "email": "ann@example.com",
        "first_name": "Ann\nMarie",
        "company": "Acme\r\nEurope",
        "custom_fields": {"note": "line 1\nline 2"},
    }
    response = client_all.post(api_url("leads"), body)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company) == ("Ann\nMarie", "Acme\r\nEurope")
    assert lead.custom_fields == {"note": "line 1\nline 2"}


def test_imported_multi_line_cells_keep_their_text(client_all, campaign):
    data = b'email,company\nann@example.com,"Acme\nEurope"\n'
    response = client_all.post(
        api_url("leads/import"),
        {"campaign_id": str(campaign.pk), "file": SimpleUploadedFile("l.csv", data, "text/csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert Lead.objects.get().company == "Acme\nEurope"


def test_the_schema_states_the_rule_as_a_pattern():
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    name = schemas["CampaignRequest"]["properties"]["name"]["pattern"]
    subject = schemas["StepRequest"]["properties"]["subject"]["pattern"]
    display_name = schemas["SMTPSenderAccountRequest"]["properties"]["display_name"]["pattern"]
    # A follow-up's subject may be empty (it then reuses step 1's); both refuse line breaks.
    assert re.search(subject.replace("$", r"\Z"), "")
    for pattern, refused in (
        (name, [*BREAKS, *INVISIBLE]),
        (subject, [*BREAKS, *INVISIBLE]),
        (display_name, [*BREAKS, *INVISIBLE, "Sales\x00Team"]),
    ):
        for text in refused:
            assert not re.search(pattern.replace("$", r"\Z"), text), (pattern, text)
        assert re.search(pattern.replace("$", r"\Z"), "Spring outreach")
