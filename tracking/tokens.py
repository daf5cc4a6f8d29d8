"""The open (/o/) and click (/c/) links of a message, beside the engine's unsubscribe link
(delivery.tokens signs all three, each kind under its own salt, bound to one Message id)."""

import hashlib
import uuid

from django.conf import settings

from delivery.tokens import sign, unsign


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
