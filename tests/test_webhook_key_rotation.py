"""`rotate_encryption_keys` re-encrypts webhook secrets too (API.md §10: stored encrypted, like
SMTP passwords): after a new key is put first and the command has run, the current and the
previous secret decrypt under the new key alone and sign exactly as before."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from audit.services import Actor
from webhooks.delivering import signer_for
from webhooks.models import WebhookEndpoint
from webhooks.services import do_create_webhook, do_rotate_secret

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
ACTOR = Actor.command("test")
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def raw(endpoint: WebhookEndpoint, column: str) -> str:
    """The column as stored, read past the ORM."""
    table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    pk = WebhookEndpoint._meta.pk.get_db_prep_value(endpoint.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def fresh(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get(pk=endpoint.pk)


def signature(endpoint: WebhookEndpoint) -> str:
    """The webhook-signature header of one fixed message (both signatures during a rotation)."""
    return signer_for(endpoint, AT).headers(
        "msg_1", int(AT.timestamp()), '{"type":"webhook.test"}'
    )["webhook-signature"]


def make(workspace, url: str) -> WebhookEndpoint:
    endpoint, _ = do_create_webhook(workspace, {"url": url, "event_types": ["*"]}, actor=ACTOR)
    return endpoint


def rotate_keys() -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def test_rotation_re_encrypts_current_and_previous_webhook_secrets(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        plain = make(workspace, "https://127.0.0.1/plain")
        rotated = make(workspace, "https://127.0.0.1/rotated")
        first_secret = fresh(rotated).secret
        rotated, second_secret = do_rotate_secret(
            rotated, expire_previous_in_seconds=86_400, actor=ACTOR
        )
        rotated = fresh(rotated)
        assert rotated.previous_secret == first_secret
        # Sign while the previous secret is still valid at AT.
        WebhookEndpoint.objects.filter(pk=rotated.pk).update(
            previous_expires_at=AT + timedelta(hours=1)
        )
        before = {
            e.pk: (e.secret, e.previous_secret, signature(e)) for e in map(fresh, [plain, rotated])
        }
        old_tokens = {e.pk: (raw(e, "secret"), raw(e, "previous_secret")) for e in [plain, rotated]}
    assert len(before[rotated.pk][2].split(" ")) == 2  # both signatures

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        output = rotate_keys()

    assert "Re-encrypted 3 webhook secret(s)" in output
    assert "Re-encrypted 0 sender account password(s)" in output
    for secret in (first_secret, second_secret):
        assert secret not in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):  # the old key removed
        after = {
            e.pk: (e.secret, e.previous_secret, signature(e)) for e in map(fresh, [plain, rotated])
        }
    assert after == before
    assert after[rotated.pk][:2] == (second_secret, first_secret)
    for endpoint in (plain, rotated):
        tokens = zip(("secret", "previous_secret"), old_tokens[endpoint.pk], strict=True)
        for column, old_token in tokens:
            new_token = raw(endpoint, column)
            if not old_token:
                assert new_token == ""  # nothing to encrypt stays empty
                continue
            assert new_token != old_token
            assert Fernet(NEW_KEY.encode()).decrypt(new_token.encode())
            with pytest.raises(InvalidToken):
                Fernet(OLD_KEY.encode()).decrypt(new_token.encode())


def test_an_undecryptable_webhook_secret_is_reported_and_the_rest_rotated(workspace):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        good = make(workspace, "https://127.0.0.1/good")
        good_secret = fresh(good).secret
    lost_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[lost_key]):
        bad = make(workspace, "https://127.0.0.1/bad")
    bad_token = raw(bad, "secret")

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]),
        pytest.raises(CommandError) as error,
    ):
        rotate_keys()

    assert str(bad.pk) in str(error.value)
    assert "webhook secret" in str(error.value)
    assert bad_token not in str(error.value)
    assert raw(bad, "secret") == bad_token  # left as it was
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert fresh(good).secret == good_secret
