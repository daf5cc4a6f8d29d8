"""What a message arriving in a sender account's inbox is (API.md §8), in this order:
1. a bounce report (inbound/dsn.py: RFC 3464, or a bounce flufl.bounce recognises), with each
   failed recipient's verdict (HARD or FAILED); one that fails nobody (delayed, relayed,
   delivered) is DELAYED and changes nothing — Auto-Submitted or not;
2. an automatic answer (inbound/automatic.py: its headers and decoded subject, as data);
3. a reply: anything else whose In-Reply-To / References name a message.
Pure functions of the message; which referenced ids are ours is decided by the caller."""

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from inbound import automatic, dsn

BOUNCE, DELAYED, AUTO_REPLY, REPLY, OTHER = "bounce", "delayed", "auto_reply", "reply", "other"
MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")
MAX_IDS = 50


@dataclass(frozen=True)
class Classified:
    kind: str
    # Message-IDs (with angle brackets) the message names, most specific first.
    message_ids: list[str] = field(default_factory=list)
    # For a bounce report: the failed recipients, each with its verdict (inbound/dsn.py).
    failures: list[dsn.Failure] = field(default_factory=list)


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


def referenced(msg: Message) -> list[str]:
    """In-Reply-To first, then References from the newest."""
    ids = ids_in(msg.get("In-Reply-To")) + list(reversed(ids_in(msg.get("References"))))
    return list(dict.fromkeys(ids))[:MAX_IDS]


def classify(msg: Message) -> Classified:
    report = dsn.read_report(msg)
    if report is not None:
        kind = BOUNCE if report.failures else DELAYED
        return Classified(kind, report.message_ids, failures=report.failures)
    ids = referenced(msg)
    if automatic.is_automatic(msg):
        return Classified(AUTO_REPLY, ids)
    if ids:
        return Classified(REPLY, ids)
    return Classified(OTHER)
