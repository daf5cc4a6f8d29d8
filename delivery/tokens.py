"""Signed tokens for the public links of a message (unsubscribe /u/, open /o/, click /c/).

Signed with SECRET_KEY (and still valid through SECRET_KEY_FALLBACKS), a salt per kind, bound
to one Message id; they never expire. `unsign` answers None for anything forged or altered."""

import hashlib
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
    return f"{_base()}/u/{sign('unsubscribe', message_id)}"


def _base() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def link_digest(url: str) -> str:
    """Binds a click token to the URL that was sent, so a link changed later is not followed."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def open_url(message_pk: uuid.UUID) -> str:
    return f"{_base()}/o/{sign('open', message_pk)}.gif"


def click_url(message_pk: uuid.UUID, index: int, url: str) -> str:
    return f"{_base()}/c/{sign('click', message_pk, f'{index}-{link_digest(url)}')}"


def open_message(token: str) -> uuid.UUID | None:
    signed = unsign("open", token)
    return signed[0] if signed and not signed[1] else None


def click_link(token: str) -> tuple[uuid.UUID, int, str] | None:
    """(message id, link index, URL digest) of a valid click token, else None."""
    signed = unsign("click", token)
    if signed is None:
        return None
    index, _, digest = signed[1].partition("-")
    if not index.isdigit() or not digest:
        return None
    return signed[0], int(index), digest


def unsubscribe_message(token: str) -> uuid.UUID | None:
    signed = unsign("unsubscribe", token)
    return signed[0] if signed and not signed[1] else None
