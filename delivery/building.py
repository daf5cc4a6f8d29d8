"""Building the message of one step for one lead, with the standard library's `email` package."""

import functools
import re
from dataclasses import dataclass
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, make_msgid

from django.core.exceptions import ValidationError

from delivery import placeholders
from delivery.html import tracked_parts
from delivery.tokens import unsubscribe_url
from leads.emails import ascii_domain

CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
# Written as given, folded only at spaces: a URL or message ids must never become RFC 2047
# encoded-words or be folded inside (mail clients would not recognise them; a Message-ID on a
# long domain stays on its line).
VERBATIM = frozenset(
    {"list-unsubscribe", "list-unsubscribe-post", "message-id", "in-reply-to", "references"}
)
# Headers whose values this module generates (ASCII, one line): kept as given instead of being
# parsed into header objects on the way in (read back, they are parsed then).
AS_GIVEN = VERBATIM | {"date"}
# A recipient this plain (ASCII atoms @ an ASCII domain) is a valid To header as it is.
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


class _FoldedOnce:
    """Mixed into every header class: a header object is immutable, so it folds to the same
    text every time; the text is kept on the object."""

    def fold(self, *, policy: object) -> str:
        if policy is not POLICY:
            return super().fold(policy=policy)
        folded = self.__dict__.get("_folded")
        if folded is None:
            folded = self._folded = super().fold(policy=policy)
        return folded


class _HeaderClasses(HeaderRegistry):
    """The standard registry, made for building many similar messages:
    - each header's class is made once (the standard one builds a new class with type() for
      every header of every message);
    - header objects are immutable, so one object per (name, value) serves every message that
      has that header (From per account, Content-Type, MIME-Version …), parsed and folded once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}
        self._made = functools.lru_cache(maxsize=4096)(self._make)

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            base = self.registry.get(key, self.default_class)
            cls = type("_" + base.__name__, (_FoldedOnce, base, self.base_class), {})
            self._classes[key] = cls
        return cls

    def _make(self, name: str, value: str) -> object:
        return self[name](name, value)

    def __call__(self, name: str, value: object) -> object:
        if isinstance(value, str):
            return self._made(name, value)
        return self._make(name, value)


class _Policy(type(SMTP_POLICY)):
    def _verbatim(self, name: str, value: str) -> str:
        lines, line = [], f"{name}:"
        for word in str(value).split():
            if len(line) + 1 + len(word) > self.max_line_length and line != f"{name}:":
                lines.append(line)
                line = ""
            line += f" {word}"
        lines.append(line)
        return self.linesep.join(lines) + self.linesep

    def header_store_parse(self, name: str, value: object) -> tuple[str, object]:
        key = name.lower()
        if isinstance(value, str) and (
            key in AS_GIVEN or (key == "to" and PLAIN_ADDRESS.fullmatch(value))
        ):
            if len(value.splitlines()) > 1:
                raise ValueError("Header values may not contain linefeed or carriage return")
            return name, value
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: str) -> str:
        if name.lower() in VERBATIM:
            return self._verbatim(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in VERBATIM:
            return self._verbatim(name, value).encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n", header_factory=_HeaderClasses())


def header_text(value: str) -> str:
    """CR, LF and other control characters become spaces in any header value."""
    return CONTROL.sub(" ", value or "").strip()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def ascii_address(address: str) -> str:
    """The address as SMTP and headers carry it without SMTPUTF8: an internationalised domain
    in its IDNA (punycode) form. Local parts are ASCII already (the API's email validation);
    an address that cannot be written so is returned as it is, for the server to refuse."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{ascii_domain(domain)}"  # IDNA 2008, as the address was validated
    except ValidationError:
        return address


@dataclass(frozen=True)
class Built:
    message: EmailMessage
    message_id: str  # with its angle brackets
    subject: str


def build(
    *,
    message_pk: object,
    sender_email: str,
    sender_name: str,
    recipient: str,
    values: dict[str, str],
    subject_template: str,
    body_template: str,
    first_subject_template: str,
    thread: list[str],
    include_unsubscribe_link: bool,
    sent_at: object,
    tracking: dict | None = None,
) -> Built:
    """`thread`: the Message-IDs already sent to this lead, oldest first (empty for step 1)."""
    subject = header_text(placeholders.render(subject_template, values))
    if not subject and thread:
        subject = "Re: " + header_text(placeholders.render(first_subject_template, values))
    body = placeholders.render(body_template, values)
    url = unsubscribe_url(message_pk)
    footer = f"\n\nUnsubscribe: {url}\n" if include_unsubscribe_link else ""
    body, html = tracked_parts(body, message_pk, tracking, footer)
    message_id = make_msgid(domain=domain_of(sender_email))

    email = EmailMessage(policy=POLICY)
    email["From"] = formataddr((header_text(sender_name), sender_email))
    email["To"] = recipient
    email["Subject"] = subject
    email["Date"] = format_datetime(sent_at)
    email["Message-ID"] = message_id
    if thread:
        email["In-Reply-To"] = thread[-1]
        email["References"] = " ".join(thread)
    email["List-Unsubscribe"] = f"<{url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # 8bit keeps the text (and the unsubscribe URL) readable in the raw message; every server
    # in use advertises 8BITMIME. Over-long lines need quoted-printable.
    short = all(len(line.encode()) <= 990 for line in body.splitlines())
    email.set_content(body, charset="utf-8", cte="8bit" if short else "quoted-printable")
    if html is not None:
        email.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return Built(message=email, message_id=message_id, subject=subject)
