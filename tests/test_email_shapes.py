"""Email addresses are limited to what SMTP can carry (RFC 5321, RFC 6531): no control or
invisible formatting characters anywhere (U+200B, U+202E, U+2028 …), at most 64 characters
before the @, domain labels that are valid IDNA 2008 labels of at most 63 characters once
encoded, at most 254 characters in all. One rule (leads.emails.normalize_email) for leads and
sender accounts, over the API, the import (CSV and JSON) and the admin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.urls import api_url

REFUSED = {
    "zero-width space in the domain": "ann@exa\u200bmple.com",
    "right-to-left override in the domain": "ann@exa\u202emple.com",
    "line separator in the domain": "ann@exa\u2028mple.com",
    "paragraph separator in the domain": "ann@example.co\u2029m",
    "zero-width space in the local part": "an\u200bn@example.com",
    "trailing zero-width space": "ann@example.com\u200b",
    "soft hyphen": "ann@ex\u00adample.com",
    "byte-order mark": "ann@ex\ufeffample.com",
    "zero-width joiner": "ann@exa\u200dmple.com",
    "control character in a quoted local part": '"an\x01n"@example.com',
    "65 characters before the @": "a" * 65 + "@example.com",
    "a 64-character label": "ann@" + "a" * 64 + ".com",
    "an internationalised label over 63 once encoded": "ann@" + "ü" * 60 + ".de",
    "a symbol IDNA 2008 disallows": "ann@\u2603.net",
    "255 characters": "a@" + ".".join(["b" * 63] * 3) + "." + "e" * 61,
}
ACCEPTED = {
    "64 characters before the @": "a" * 64 + "@example.com",
    "an internationalised domain": "ann@bücher.de",
    "its A-label": "ann@xn--bcher-kva.de",
    "254 characters": "a@" + ".".join(["b" * 63] * 3) + "." + "e" * 60,
}


def test_the_lengths_are_right():
    assert len(REFUSED["255 characters"]) == 255
    assert len(ACCEPTED["254 characters"]) == 254


@pytest.fixture
def native_body():
    return lambda email: {"type": "NATIVE", "email": email}


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_the_api_refuses_the_address_for_a_lead(client_all, campaign, email):
    response = client_all.post(api_url("leads"), {"campaign_id": str(campaign.pk), "email": email})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["email"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_the_api_refuses_the_address_for_a_sender_account(client_all, native_body, email):
    response = client_all.post(api_url("sender_accounts"), native_body(email))
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["email"]
    assert not SenderAccount.objects.exists()


@pytest.mark.parametrize("email", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_api_accepts_what_smtp_can_carry(client_all, campaign, native_body, email):
    lead = client_all.post(api_url("leads"), {"campaign_id": str(campaign.pk), "email": email})
    assert lead.status_code == 201, lead.content
    assert lead.json()["email"] == email
    account = client_all.post(api_url("sender_accounts"), native_body(email))
    assert account.status_code == 201, account.content
    assert account.json()["email"] == email


def test_the_csv_import_counts_them_invalid(client_all, campaign):
    emails = [*REFUSED.values(), *ACCEPTED.values()]
    lines = ["email"] + ['"' + e.replace('"', '""') + '"' for e in emails]
    data = ("\n".join(lines) + "\n").encode()
    response = client_all.post(
        api_url("leads/import"),
        {"campaign_id": str(campaign.pk), "file": SimpleUploadedFile("l.csv", data, "text/csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["created"], report["invalid"]) == (len(ACCEPTED), len(REFUSED))
    assert [e["row"] for e in report["errors"]] == list(range(2, 2 + len(REFUSED)))
    assert all(e["error"].startswith("Enter a valid email address") for e in report["errors"])
    assert set(Lead.objects.values_list("email", flat=True)) == set(ACCEPTED.values())


def test_the_json_import_counts_them_invalid(client_all, campaign):
    emails = [*REFUSED.values(), *ACCEPTED.values()]
    body = {"campaign_id": str(campaign.pk), "leads": [{"email": e} for e in emails]}
    response = client_all.post(api_url("leads/import"), body)
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["created"], report["invalid"]) == (len(ACCEPTED), len(REFUSED))
    assert set(Lead.objects.values_list("email", flat=True)) == set(ACCEPTED.values())


@pytest.mark.parametrize(
    "email", [REFUSED["zero-width space in the domain"], REFUSED["65 characters before the @"]]
)
def test_the_admin_refuses_them_too(superuser_client, campaign, workspace, email):
    lead = superuser_client.post(
        "/admin/leads/lead/add/",
        {"campaign": campaign.pk, "email": email, "custom_fields": "{}", "status": "PENDING"},
    )
    assert lead.status_code == 200
    assert lead.context["adminform"].form.errors["email"]
    account = superuser_client.post(
        "/admin/sender_accounts/senderaccount/add/",
        {
            "workspace": str(workspace.pk),
            "type": "NATIVE",
            "email": email,
            "daily_limit": "50",
            "status": "ACTIVE",
            "smtp_port": "587",
            "smtp_security": "STARTTLS",
        },
    )
    assert account.status_code == 200
    assert account.context["adminform"].form.errors["email"]
    assert not Lead.objects.exists()
    assert not SenderAccount.objects.exists()
