"""Signed tokens for the public links of a message (unsubscribe /u/, open /o/, click /c/).

Signed with SECRET_KEY (and still valid through SECRET_KEY_FALLBACKS), a salt per kind, bound
to one Message id; they never expire. `unsign` answers None for anything forged or altered."""

import uuid

from django.conf import settings
from django.core import signing

KINDS = ("unsubscribe", "open", "click")


def _signer(kind: str) -> signing.Signer:
    if kind not in KINDS:
        raise ValueError(kind)
    return signing.Signer(salt=f"coldsend.delivery.{kind}", sep=".")


def sign(kind: str, message_id: uuid.UUID, extra: str = "") -> str:
    """A URL-safe token for `kind` and the message (`extra`, e.g. a link's index, is bound too
    and must not contain '.')."""
    value = message_id.hex + (f"-{extra}" if extra else "")
    return _signer(kind).sign(value)


def unsign(kind: str, token: str) -> tuple[uuid.UUID, str] | None:
    """(message id, extra) of a valid token, else None."""
    try:
        value = _signer(kind).unsign(token)
        hex_id, _, extra = value.partition("-")
        return uuid.UUID(hex=hex_id), extra
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(message_id: uuid.UUID) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/u/{sign('unsubscribe', message_id)}"
