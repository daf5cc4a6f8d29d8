"""A text field encrypted at rest with MultiFernet under FIELD_ENCRYPTION_KEYS:
the first key encrypts, every key decrypts, so keys can be rotated."""

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class DecryptionError(Exception):
    """The stored value cannot be decrypted with any of FIELD_ENCRYPTION_KEYS.
    Its message never carries the stored token or the plain text."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str, what: str = "Stored secret") -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        # `from None`: the chained error would add nothing but noise to the report.
        raise DecryptionError(
            f"{what} cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS"
        ) from None


def rotate(token: str, what: str = "Stored secret") -> str:
    """Re-encrypt a stored token under the current first key."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise DecryptionError(
            f"{what} cannot be decrypted for rotation with any key in FIELD_ENCRYPTION_KEYS"
        ) from None


class EncryptedTextField(models.TextField):
    """Python side: the plain text; database side: a Fernet token. Never logged or shown.

    Reading a value that no configured key decrypts raises DecryptionError, never the token.
    Lookups other than `isnull` and `=""` cannot match (every encryption is randomised)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value, what=f"{self.model._meta.label}.{self.name}")

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
