"""The SMTP password at rest (API.md §5): a Fernet token under the first of
FIELD_ENCRYPTION_KEYS, readable with any of them, rotated by `rotate_encryption_keys`, and a
clear DecryptionError (never the token) when no key fits."""

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from sender_accounts.fields import DecryptionError, decrypt, encrypt, rotate
from sender_accounts.models import SenderAccount
from tests.factories import make_smtp_account
from tests.urls import api_url

PASSWORD = "correct horse battery staple"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def table() -> str:
    return connection.ops.quote_name(SenderAccount._meta.db_table)


def db_id(account: SenderAccount):
    return SenderAccount._meta.pk.get_db_prep_value(account.pk, connection)


def raw_password(account: SenderAccount) -> str:
    """The column as stored, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT smtp_password FROM {table()} WHERE id = %s", [db_id(account)])
        return cursor.fetchone()[0]


def write_raw_password(account: SenderAccount, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table()} SET smtp_password = %s WHERE id = %s",
            [value, db_id(account)],
        )


def stored_password(account: SenderAccount) -> str:
    return SenderAccount.objects.get(pk=account.pk).smtp_password


def test_password_is_stored_as_a_fernet_token_under_the_first_key(workspace):
    account = make_smtp_account(workspace, PASSWORD)

    raw = raw_password(account)
    assert PASSWORD not in raw
    assert raw.startswith("gAAAAA")  # Fernet's version byte, base64
    key = settings.FIELD_ENCRYPTION_KEYS[0]
    assert Fernet(key.encode()).decrypt(raw.encode()).decode() == PASSWORD
    assert stored_password(account) == PASSWORD


def test_password_created_over_the_api_is_encrypted(client_all):
    response = client_all.post(
        api_url("sender_accounts"),
        {
            "type": "SMTP",
            "email": "api@example.com",
            "smtp": {
                "host": "smtp.example.com",
                "port": 587,
                "username": "u",
                "password": PASSWORD,
            },
        },
    )
    assert response.status_code == 201
    raw = raw_password(SenderAccount.objects.get(pk=response.json()["id"]))
    assert PASSWORD not in raw
    key = settings.FIELD_ENCRYPTION_KEYS[0]
    assert Fernet(key.encode()).decrypt(raw.encode()).decode() == PASSWORD


def test_each_encryption_is_randomised(workspace):
    first = make_smtp_account(workspace, PASSWORD, email="a@example.com")
    second = make_smtp_account(workspace, PASSWORD, email="b@example.com")
    assert raw_password(first) != raw_password(second)


def test_native_account_stores_no_secret(workspace):
    account = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="n@example.com"
    )
    assert raw_password(account) == ""
    assert stored_password(account) == ""


def test_unicode_password_round_trips(workspace):
    account = make_smtp_account(workspace, password="pässwörd ✓ 密码")
    assert stored_password(account) == "pässwörd ✓ 密码"


# --- a key that does not fit ---------------------------------------------------------------


def test_wrong_key_raises_decryption_error_not_the_token(workspace):
    account = make_smtp_account(workspace, PASSWORD)
    raw = raw_password(account)

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]),
        pytest.raises(DecryptionError) as error,
    ):
        stored_password(account)

    message = str(error.value)
    assert "sender_accounts.SenderAccount.smtp_password" in message
    assert "FIELD_ENCRYPTION_KEYS" in message
    assert raw not in message
    assert PASSWORD not in message
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


@pytest.mark.parametrize("garbage", ["not-a-token", "gAAAAABtruncated", "é-not-ascii"])
def test_corrupt_column_raises_decryption_error(workspace, garbage):
    account = make_smtp_account(workspace, PASSWORD)
    write_raw_password(account, garbage)
    with pytest.raises(DecryptionError):
        stored_password(account)


def test_field_helpers_refuse_foreign_tokens():
    foreign = Fernet(NEW_KEY.encode()).encrypt(b"secret").decode()
    with pytest.raises(DecryptionError):
        decrypt(foreign)
    with pytest.raises(DecryptionError):
        rotate(foreign)
    with pytest.raises(DecryptionError):
        rotate("é")
    assert decrypt(encrypt("secret")) == "secret"


def test_api_reads_never_decrypt_the_password(client_all, workspace):
    """Lists and details never load the secret, so a key problem cannot break them."""
    account = make_smtp_account(workspace, PASSWORD)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert client_all.get(api_url("sender_accounts")).status_code == 200
        assert client_all.get(api_url(f"sender_accounts/{account.pk}")).status_code == 200


# --- rotation ------------------------------------------------------------------------------


def rotate_keys() -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def test_rotation(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        accounts = [
            make_smtp_account(workspace, password=f"{PASSWORD} {i}", email=f"{i}@example.com")
            for i in range(3)
        ]
        SenderAccount.objects.create(
            workspace=workspace, type=SenderAccount.Type.NATIVE, email="native@example.com"
        )
    old_tokens = [raw_password(a) for a in accounts]

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        # Old rows still read; new writes use the new first key.
        assert [stored_password(a) for a in accounts] == [f"{PASSWORD} {i}" for i in range(3)]
        fresh = make_smtp_account(workspace, password="fresh", email="fresh@example.com")
        assert Fernet(NEW_KEY.encode()).decrypt(raw_password(fresh).encode()) == b"fresh"

        output = rotate_keys()

    assert "Re-encrypted 4 sender account password(s)" in output
    assert PASSWORD not in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert [stored_password(a) for a in accounts] == [f"{PASSWORD} {i}" for i in range(3)]
        assert stored_password(fresh) == "fresh"
    for account, old_token in zip(accounts, old_tokens, strict=True):
        new_token = raw_password(account)
        assert new_token != old_token
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY.encode()).decrypt(new_token.encode())
    assert raw_password(SenderAccount.objects.get(email="native@example.com")) == ""


def test_rotation_in_small_batches(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        accounts = [
            make_smtp_account(workspace, PASSWORD, email=f"{i}@example.com") for i in range(5)
        ]
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = io.StringIO()
        call_command("rotate_encryption_keys", "--batch-size", "2", stdout=out)
    assert "Re-encrypted 5 " in out.getvalue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert {stored_password(a) for a in accounts} == {PASSWORD}


def test_rotation_reports_undecryptable_rows_and_rotates_the_rest(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        good = make_smtp_account(workspace, PASSWORD, email="good@example.com")
    lost_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[lost_key]):
        bad = make_smtp_account(workspace, PASSWORD, email="bad@example.com")
    bad_token = raw_password(bad)

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]),
        pytest.raises(CommandError) as error,
    ):
        rotate_keys()

    assert str(bad.pk) in str(error.value)
    assert bad_token not in str(error.value)
    assert raw_password(bad) == bad_token  # left as it was
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert stored_password(good) == PASSWORD


def test_rotation_re_encrypts_inbox_passwords_too(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        account = make_smtp_account(workspace, PASSWORD, email="inbox@example.com")
        account.imap_host, account.imap_port, account.imap_username = "imap.example.com", 993, "u"
        account.imap_password = "imap secret"
        account.save()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        output = rotate_keys()
    assert "Re-encrypted 2 sender account password(s)" in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        fresh = SenderAccount.objects.get(pk=account.pk)
        assert (fresh.smtp_password, fresh.imap_password) == (PASSWORD, "imap secret")
