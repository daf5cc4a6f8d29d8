"""Messages with tracking (API.md §8): pure functions from the rendered text body to the text
and HTML parts that go out. The engine's message builder calls `tracked_parts`."""

import html
import re
import uuid
from collections.abc import Callable, Mapping

from delivery.tokens import click_url, open_url

URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
# Sentence punctuation after a URL is not part of it.
TRAILING = ".,;:!?)]}'\""


def links(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each http(s) link in `text`, in order: the link index of a click
    token is a position in this list."""
    found = []
    for match in URL.finditer(text):
        url = match.group(0).rstrip(TRAILING)
        if "://" in url and len(url) > url.index("://") + 3:
            found.append((match.start(), match.start() + len(url), url))
    return found


def _pieces(
    text: str, rewrite: Callable[[int, str], str]
) -> list[tuple[str, str | None, str | None]]:
    """(plain text, link text, link target) pieces of `text`."""
    pieces, at = [], 0
    for index, (start, end, url) in enumerate(links(text)):
        pieces.append((text[at:start], url, rewrite(index, url)))
        at = end
    pieces.append((text[at:], None, None))
    return pieces


def _html(pieces: list[tuple[str, str | None, str | None]]) -> str:
    out = []
    for plain, shown, target in pieces:
        out.append(html.escape(plain))
        if shown is not None:
            out.append(f'<a href="{html.escape(target)}">{html.escape(shown)}</a>')
    return "".join(out).replace("\r\n", "\n").replace("\n", "<br>\n")


def tracked_parts(
    text: str, message_pk: uuid.UUID, tracking: Mapping | None, footer: str = ""
) -> tuple[str, str | None]:
    """The text part, and the HTML part (None unless `tracking["opens"]`), of a message whose
    rendered body is `text`. With `tracking["clicks"]` each link of `text` becomes its /c/
    link; `footer` (the unsubscribe line) is appended to both parts, never rewritten. The HTML
    is the escaped text with clickable links and the /o/ pixel at the end."""
    tracking = tracking or {}
    clicks, opens = bool(tracking.get("clicks")), bool(tracking.get("opens"))
    if footer:
        text = text.rstrip("\r\n")
    body = _pieces(text, lambda i, url: click_url(message_pk, i, url) if clicks else url)
    tail = _pieces(footer, lambda i, url: url)
    plain = "".join(p + (t or "") for p, _, t in body) + footer
    if not opens:
        return plain, None
    pixel = f'<img src="{html.escape(open_url(message_pk))}" width="1" height="1" alt="">'
    document = (
        f"<!DOCTYPE html>\n<html><body><div>{_html(body)}{_html(tail)}</div>{pixel}</body></html>\n"
    )
    return plain, document
