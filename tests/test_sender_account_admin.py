"""The sender account admin: the SMTP password is write-only (never rendered, blank keeps it,
a new value replaces it, always encrypted), and an account in use cannot be deleted."""

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from campaigns.models import Campaign
from sender_accounts.models import SenderAccount
from tests.factories import make_smtp_account

ADMIN = "/admin/sender_accounts/senderaccount/"
PASSWORD = "adm1n-Smtp-s3cret"


def raw_password(account: SenderAccount) -> str:
    table = connection.ops.quote_name(SenderAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT smtp_password FROM {table} WHERE id = %s",
            [SenderAccount._meta.pk.get_db_prep_value(account.pk, connection)],
        )
        return cursor.fetchone()[0]


def decrypt_raw(token: str) -> str:
    return Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode()).decrypt(token.encode()).decode()


def form_data(workspace, **changes) -> dict:
    data = {
        "workspace": str(workspace.pk),
        "type": "SMTP",
        "email": "Admin@Example.com",
        "display_name": "Admin",
        "daily_limit": "80",
        "min_interval_seconds": "180",
        "max_interval_seconds": "300",
        "status": "ACTIVE",
        "smtp_host": "smtp.example.com",
        "smtp_port": "587",
        "smtp_username": "admin",
        "smtp_password": PASSWORD,
        "smtp_security": "STARTTLS",
    }
    data.update(changes)
    return data


def test_add_form_creates_an_encrypted_smtp_account(superuser_client, workspace):
    assert superuser_client.get(f"{ADMIN}add/").status_code == 200

    response = superuser_client.post(f"{ADMIN}add/", form_data(workspace))

    assert response.status_code == 302, response.content.decode()[:2000]
    account = SenderAccount.objects.get()
    assert account.workspace == workspace
    assert account.email == "admin@example.com"
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        "smtp.example.com", 587, "STARTTLS",
    )  # fmt: skip
    raw = raw_password(account)
    assert PASSWORD not in raw
    assert decrypt_raw(raw) == PASSWORD


def test_change_page_never_renders_the_password(superuser_client, workspace):
    account = make_smtp_account(workspace, PASSWORD, email="kept@example.com")

    for url in (f"{ADMIN}{account.pk}/change/", ADMIN, f"{ADMIN}{account.pk}/history/"):
        response = superuser_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert PASSWORD not in html
        assert raw_password(account) not in html
    change = superuser_client.get(f"{ADMIN}{account.pk}/change/").content.decode()
    assert 'type="password" name="smtp_password"' in change
    assert "Leave blank to keep the current password" in change


def test_blank_password_on_change_keeps_the_old_one(superuser_client, workspace):
    account = make_smtp_account(workspace, PASSWORD, email="kept@example.com")

    response = superuser_client.post(
        f"{ADMIN}{account.pk}/change/",
        form_data(
            workspace,
            email="kept@example.com",
            display_name="Renamed",
            smtp_username="user",  # the stored login, unchanged
            smtp_password="",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.display_name == "Renamed"
    assert account.smtp_password == PASSWORD
    assert decrypt_raw(raw_password(account)) == PASSWORD


def test_new_password_on_change_replaces_it_encrypted(superuser_client, workspace):
    account = make_smtp_account(workspace, PASSWORD, email="kept@example.com")

    response = superuser_client.post(
        f"{ADMIN}{account.pk}/change/", form_data(workspace, smtp_password="brand-new")
    )

    assert response.status_code == 302
    raw = raw_password(account)
    assert "brand-new" not in raw
    assert decrypt_raw(raw) == "brand-new"


def test_smtp_account_without_password_is_refused(superuser_client, workspace):
    response = superuser_client.post(f"{ADMIN}add/", form_data(workspace, smtp_password=""))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["smtp_password"] == [
        "Required for SMTP sender accounts."
    ]
    assert not SenderAccount.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "NATIVE", "smtp_password": ""}, "smtp_host"),
        ({"type": "NATIVE", "smtp_host": "", "smtp_port": "", "smtp_username": "",
          "smtp_security": ""}, "smtp_password"),
        ({"smtp_port": "0"}, "smtp_port"),
        ({"daily_limit": "10001"}, "daily_limit"),
        ({"smtp_host": ""}, "smtp_host"),
    ],
)  # fmt: skip
def test_invalid_admin_input_is_refused(superuser_client, workspace, changes, field):
    response = superuser_client.post(f"{ADMIN}add/", form_data(workspace, **changes))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert PASSWORD not in response.content.decode()
    assert not SenderAccount.objects.exists()


def test_add_native_account(superuser_client, workspace):
    blank_smtp = {
        "smtp_host": "", "smtp_port": "", "smtp_username": "", "smtp_password": "",
        "smtp_security": "",
    }  # fmt: skip
    response = superuser_client.post(
        f"{ADMIN}add/", form_data(workspace, type="NATIVE", **blank_smtp)
    )

    assert response.status_code == 302
    account = SenderAccount.objects.get()
    assert account.type == "NATIVE"
    assert raw_password(account) == ""


def test_changelist_filters(superuser_client, workspace):
    make_smtp_account(workspace, PASSWORD, email="kept@example.com")
    for query in (
        "type__exact=SMTP",
        "status__exact=ACTIVE",
        f"workspace__id__exact={workspace.pk}",
    ):
        response = superuser_client.get(f"{ADMIN}?{query}")
        assert response.status_code == 200
        assert "kept@example.com" in response.content.decode()


def test_admin_refuses_to_delete_an_account_an_active_campaign_uses(superuser_client, workspace):
    account = make_smtp_account(workspace, PASSWORD, email="kept@example.com")
    campaign = Campaign.objects.create(workspace=workspace, name="Live", status="ACTIVE")
    campaign.sender_accounts.add(account)

    page = superuser_client.get(f"{ADMIN}{account.pk}/delete/")
    assert page.status_code == 200
    assert f"used by ACTIVE campaign {campaign.pk}" in page.content.decode()

    superuser_client.post(f"{ADMIN}{account.pk}/delete/", {"post": "yes"})
    assert SenderAccount.objects.filter(pk=account.pk).exists()

    Campaign.objects.filter(pk=campaign.pk).update(status="PAUSED")
    response = superuser_client.post(f"{ADMIN}{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SenderAccount.objects.filter(pk=account.pk).exists()


def test_an_account_made_native_in_the_admin_forgets_its_inbox(superuser_client, workspace):
    account = make_smtp_account(workspace, PASSWORD, email="inbox@example.com")
    account.imap_host, account.imap_port, account.imap_username = "imap.example.com", 993, "u"
    account.imap_password, account.imap_security = "imap secret", "SSL"
    account.save()
    blank_smtp = {
        "smtp_host": "", "smtp_port": "", "smtp_username": "", "smtp_password": "",
        "smtp_security": "",
    }  # fmt: skip

    response = superuser_client.post(
        f"{ADMIN}{account.pk}/change/",
        form_data(workspace, email="inbox@example.com", type="NATIVE", **blank_smtp),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.type, account.imap_host, account.imap_password) == ("NATIVE", "", "")
