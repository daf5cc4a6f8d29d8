"""What a person reads of a message that came in (API.md §10): who sent it, its
subject, and its text — the plain-text part, or the HTML part turned to text by inscriptis —
bounded. Attachments are never read."""

from collections.abc import Iterator
from datetime import datetime
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from inscriptis import get_text

MAX_TEXT_CHARS = 100_000
EVENT_TEXT_BYTES = 8 * 1024  # reply text in an event, so an event stays under 20 KB
MAX_HTML_CHARS = 2_000_000  # HTML beyond this is not turned to text (its start is)


def clean(text: str) -> str:
    """Text any database stores: raw 8-bit bytes the parser kept as escapes read as UTF-8 (what
    unlabelled mail mostly is), other lone surrogates and NUL replaced."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte (e.g. from UTF-7)
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\ufffd")


def header_text(value: object) -> str:
    """A header decoded from RFC 2047 words; undecodable parts are replaced, never an error."""
    if value is None:
        return ""
    if isinstance(value, Header):  # raw 8-bit bytes in the header: read as UTF-8
        value = "".join(_chunk(text, charset) for text, charset in decode_header(value))
    try:
        return clean(str(make_header(decode_header(clean(str(value)))))).strip()
    except (ValueError, LookupError, UnicodeError):
        return clean(str(value)).strip()


def _chunk(text: bytes | str, charset: str | None) -> str:
    if isinstance(text, str):
        return text
    if charset in (None, "unknown-8bit"):
        charset = "utf-8"
    try:
        return text.decode(charset, "replace")
    except LookupError:
        return text.decode("utf-8", "replace")


def sender(msg: Message) -> str:
    """The From address (the address alone, without the display name)."""
    found = getaddresses([header_text(msg.get("From"))])
    return found[0][1][:320] if found and found[0][1] else header_text(msg.get("From"))[:320]


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", "replace")


def _leaves(part: Message) -> Iterator[Message]:
    """The leaf parts, without going into message/* parts (a report's status fields, a
    returned message): they are not what the sender wrote. Iterative: depth is bounded by the
    reader (classify.MAX_DEPTH), but no recursion either way."""
    stack = [part]
    while stack:
        current = stack.pop()
        if current.get_content_maintype() == "message":
            continue
        if current.is_multipart():
            payload = current.get_payload()
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            yield current


def _parts(msg: Message) -> tuple[Message | None, Message | None]:
    """The first inline text/plain and text/html parts, attachments skipped."""
    plain = html = None
    for part in _leaves(msg):
        if part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and html is None:
            html = part
    return plain, html


def text_of(msg: Message) -> str:
    """The message's text, at most MAX_TEXT_CHARS characters."""
    plain, html = _parts(msg)
    if plain is not None:
        text = _decoded(plain)
    elif html is not None:
        text = get_text(_decoded(html)[:MAX_HTML_CHARS])
    else:
        text = ""
    return clean(text).replace("\r\n", "\n").strip()[:MAX_TEXT_CHARS]


def cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` bytes of UTF-8 (never inside a character); whether it was."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", "ignore"), True


def reply_data(msg: Message, received_at: datetime) -> dict:
    """The `reply` object of lead.replied and lead.auto_replied."""
    text, truncated = cut(text_of(msg), EVENT_TEXT_BYTES)
    return {
        "from": sender(msg),
        "subject": header_text(msg.get("Subject"))[:998],
        "text": text,
        "text_truncated": truncated,
        "received_at": received_at,
    }
