"""What a message arriving in a sender account's inbox is (API.md §8), in this order:
1. a delivery status notification (RFC 3464, or a bounce flufl.bounce recognises): a hard
   bounce (5.x.x) or a delay (4.x.x, ignored) — even when it also carries Auto-Submitted;
2. an automatic answer (RFC 3834 Auto-Submitted other than "no", X-Autoreply, X-Autorespond,
   Precedence: auto_reply, Exchange's X-Auto-Response-Suppress with an out-of-office subject);
3. a reply: anything else whose In-Reply-To / References name a message.
Pure functions of the message; which referenced ids are ours is decided by the caller."""

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

from flufl.bounce import all_failures

BOUNCE, DELAYED, AUTO_REPLY, REPLY, OTHER = "bounce", "delayed", "auto_reply", "reply", "other"
MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")
STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}")
OUT_OF_OFFICE = re.compile(
    r"out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|away from|"
    r"on vacation|on leave|abwesenheit|absence|r[ée]ponse automatique|respuesta autom",
    re.IGNORECASE,
)
MAX_IDS = 50


@dataclass(frozen=True)
class Classified:
    kind: str
    # Message-IDs (with angle brackets) the message names, most specific first.
    message_ids: list[str] = field(default_factory=list)
    # For a bounce: the failed recipients and the worst status seen.
    recipients: list[str] = field(default_factory=list)
    status: str = ""


MAX_DEPTH = 20


class TooDeep(ValueError):
    """MIME nested deeper than MAX_DEPTH: such a message is passed over (API.md §8)."""


def parse(raw: bytes) -> Message:
    """The message, or TooDeep when its MIME parts nest deeper than MAX_DEPTH (measured without
    recursion; deeper still, the parser's own RecursionError says the same)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooDeep(f"MIME nested deeper than {MAX_DEPTH} levels")
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))
    return msg


def ids_in(text: str | None) -> list[str]:
    return MESSAGE_ID.findall(str(text or ""))[:MAX_IDS]


def _address(value: str | None) -> str:
    """`rfc822; Ann@Example.com` → ann@example.com."""
    value = str(value or "").rpartition(";")[2].strip().strip("<>").strip()
    return value.lower()


def _returned_ids(msg: Message) -> list[str]:
    """Message-IDs of the returned message (message/rfc822 or text/rfc822-headers parts),
    then any other message id the report carries."""
    found: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            for inner in part.get_payload():
                found += ids_in(inner.get("Message-ID"))
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True) or b""
            headers = HeaderParser().parsestr(payload.decode("utf-8", "replace"))
            found += ids_in(headers.get("Message-ID"))
    own = set(ids_in(msg.get("Message-ID")))
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True) or b""
            found += [i for i in ids_in(payload.decode("utf-8", "replace")) if i not in own]
    return list(dict.fromkeys(found))[:MAX_IDS]


def _dsn(msg: Message) -> Classified | None:
    """RFC 3464: the per-recipient Status fields of a message/delivery-status part."""
    statuses, recipients = [], []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload() if part.is_multipart() else []
        for block in blocks:
            match = STATUS.match(str(block.get("Status", "")))
            if match:
                statuses.append(block.get("Status").strip().split()[0])
                recipients.append(
                    _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
                )
    if not statuses:
        return None
    hard = [s for s in statuses if s.startswith("5")]
    return Classified(
        kind=BOUNCE if hard else DELAYED,
        message_ids=_returned_ids(msg),
        recipients=[r for r, s in zip(recipients, statuses, strict=True) if s.startswith("5")],
        status=(hard or statuses)[0],
    )


def _flufl(msg: Message) -> Classified | None:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on odd mail must not stop the inbox
        return None
    if permanent:
        recipients = sorted(a.decode("utf-8", "replace").lower() for a in permanent)
        return Classified(BOUNCE, _returned_ids(msg), recipients, "5.0.0")
    if temporary:
        return Classified(DELAYED, _returned_ids(msg))
    return None


def is_automatic(msg: Message) -> bool:
    submitted = str(msg.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return True
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return msg.get("X-Auto-Response-Suppress") is not None and bool(
        OUT_OF_OFFICE.search(str(msg.get("Subject", "")))
    )


def referenced(msg: Message) -> list[str]:
    """In-Reply-To first, then References from the newest."""
    ids = ids_in(msg.get("In-Reply-To")) + list(reversed(ids_in(msg.get("References"))))
    return list(dict.fromkeys(ids))[:MAX_IDS]


def classify(msg: Message) -> Classified:
    report = msg.get_content_type() == "multipart/report"
    dsn = _dsn(msg) if report else None
    if dsn is None:
        dsn = _flufl(msg)
    if dsn is not None:
        return dsn
    ids = referenced(msg)
    if is_automatic(msg):
        return Classified(AUTO_REPLY, ids)
    if ids:
        return Classified(REPLY, ids)
    return Classified(OTHER)
