"""Bounce reports (API.md §8, item 1): who failed, how badly, and which message came back.

read_report(msg) reads a message from a sender account's inbox and says whether it is a bounce
report at all (None when not), which recipients failed (a Failure each: HARD or FAILED) and which
Message-IDs it names, most specific first. Which of those ids and addresses are ours is the
caller's business. Pure: the standard library and flufl.bounce, no database.

How a report is read:
- RFC 3464 (and RFC 6533's global form): every `message/delivery-status` or
  `message/global-delivery-status` part of the message, whatever multipart holds it; only when
  there is none, those inside an attached `message/rfc822` (a relay forwarding the report). The
  part is read as text, whatever shape the parser left it in (header blocks, a base64 or
  quoted-printable body, doubled or bare-CR line endings), and cut into per-recipient groups.
- A recipient's address is its `Original-Recipient` when that is an address of type `rfc822` or
  `utf-8`, else its `Final-Recipient` under the same condition (a value with no type counts when
  it is a bare address). Exchange's `IMCEA...` encapsulations (an X.500 or X.400 address dressed
  as `rfc822`) are not addresses. A failed recipient without such an address (X.400, `unknown`)
  takes its address from flufl.bounce, the addresses other groups already name set aside.
- Verdict, as for an answer at RCPT TO (API.md §7): Status 5.1.x or 5.2.1 is HARD; any other
  5.x.x is FAILED; `Action: failed` with a 4.x.x Status (4.4.7, expired) is FAILED, and with no
  or an unreadable Status it is FAILED with status "". `delayed`, `relayed`, `delivered` and
  `expanded` change nothing, whatever their Status says. A Status X.0.0 takes the first more
  specific enhanced code of the same class in the Diagnostic-Code (5.0.0 with "550 5.1.1 ..." is
  5.1.1, HARD). A group with no Action is judged by its Status alone (5.x.x only).
- Any other bounce (qmail, old Exim, Yahoo, old Microsoft, Lotus Notes ...): flufl.bounce's
  all_failures; its permanent addresses are HARD with status "" (flufl says permanent when the
  MTA said the address is dead), its temporary ones change nothing. An exception inside
  flufl.bounce means "not recognised".

Malformed input never raises: what can be read is returned.
"""

import binascii
import codecs
import copy
import email
import email.policy
import logging
import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.errors import MissingHeaderBodySeparatorDefect
from email.header import Header, decode_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

HARD, FAILED = "hard", "failed"

log = logging.getLogger(__name__)

MAX_IDS = 50
MAX_DIAGNOSTIC = 200
MAX_DEPTH = 30  # MIME nesting read; classify.parse refuses deeper mail before we see it
MAX_PARTS = 2000
MAX_TEXT = 2_000_000  # characters of one text part searched for Message-IDs

MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")
MESSAGE_ID_LINE = re.compile(
    r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]{1,250}@[^<>\s]{1,250}>)", re.I | re.M
)
# An RFC 3463 enhanced status code, not a piece of a longer dotted number (an IP address).
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:(.*)$")
ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
UNITEXT_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
DIAGNOSTIC_TYPE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9-]*\s*;")

STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
RETURNED_MESSAGES = frozenset({"message/rfc822", "message/global"})
RETURNED_HEADERS = frozenset(
    {"text/rfc822-headers", "message/global-headers", "message/rfc822-headers"}
)
NOTHING_ACTIONS = frozenset({"delayed", "relayed", "delivered", "expanded"})
FAILED_ACTIONS = frozenset({"failed", "failure", "error"})  # opensmtpd says "error"
ADDRESS_TYPES = frozenset({"rfc822", "utf-8"})
RECIPIENT_FIELDS = ("original-recipient", "final-recipient")


@dataclass(frozen=True)
class Failure:
    """One recipient a report says failed."""

    address: str  # lower-cased bare address (no "rfc822;", no <>)
    verdict: str  # HARD or FAILED
    status: str  # the RFC 3463 code ("5.1.1", "4.4.7"); "" when flufl found it without one
    diagnostic: str  # the Diagnostic-Code text, whitespace collapsed, at most 200 characters


@dataclass(frozen=True)
class Report:
    """What a bounce report says. No failures: a report that changes nothing (only delayed,
    relayed or delivered recipients).

    message_ids: the Message-IDs (with <>) it names, most specific first: the returned message's
    (message/rfc822, message/global), the returned headers' (text/rfc822-headers,
    message/global-headers), the In-Reply-To then References (newest first) of those and then of
    the report itself (and of a report forwarded whole inside it), then any found in its text
    parts and delivery-status fields (those on a `Message-ID:` line first; not the recipients'
    or the report's own addresses in angle brackets). Never the report's own Message-ID;
    de-duplicated, at most MAX_IDS."""

    failures: list[Failure]
    message_ids: list[str]


def read_report(msg: Message) -> Report | None:
    """The bounce report `msg` is, or None when it is not one at all (neither RFC 3464 nor
    anything flufl.bounce recognises). Never raises."""
    known: set[str] = set()
    try:
        failures = _read_failures(msg, known)
    except Exception:  # malformed beyond what the readers expect: flufl alone, if it can
        log.debug("unreadable bounce report", exc_info=True)
        failures = _flufl_failures(msg)
    if failures is None:
        return None
    try:
        ids = _message_ids(msg, addresses=known | {f.address for f in failures})
    except Exception:
        log.debug("no message ids read from a bounce report", exc_info=True)
        ids = []
    return Report(failures=failures, message_ids=ids)


# --- Which recipients failed -------------------------------------------------------------------


def _read_failures(msg: Message, known: set[str]) -> list[Failure] | None:
    """The failures a report lists (None: not a report). `known` receives every recipient
    address its delivery-status groups name, failed or not."""
    status_parts = _status_parts(msg, into_messages=False) or _status_parts(msg, into_messages=True)
    if not status_parts:
        return _flufl_failures(msg)
    groups = [g for part in status_parts for g in _recipient_groups(_status_text(part))]
    if not groups:  # a report in name only: flufl may still read its text
        return _flufl_failures(msg) or []
    failures: list[Failure] = []
    unaddressed: list[Failure] = []  # failed groups whose address flufl must supply
    for group in groups:
        address = _group_address(group)
        known.update(a for a in (_typed_address(group.get(f, "")) for f in RECIPIENT_FIELDS) if a)
        failure = _judge(group, address or "")
        if failure is None:
            continue
        (failures if address else unaddressed).append(failure)
    if unaddressed:
        failures += _addresses_from_flufl(msg, unaddressed, known)
    return _unique(failures)


def _status_parts(msg: Message, *, into_messages: bool) -> list[Message]:
    return [p for p in _parts(msg, into_messages=into_messages) if _ctype(p) in STATUS_PARTS]


def _judge(group: dict[str, str], address: str) -> Failure | None:
    """A recipient group's verdict, or None when it changes nothing."""
    action_match = re.match(r"\s*([A-Za-z]+)", group.get("action", ""))
    action = action_match.group(1).lower() if action_match else ""
    status_match = ENHANCED.match(group.get("status", "").strip())
    status = ".".join(status_match.groups()) if status_match else ""
    diagnostic = _diagnostic(group.get("diagnostic-code", ""))
    if status.endswith(".0.0"):
        status = _more_specific(status, diagnostic)
    if action in NOTHING_ACTIONS:
        return None
    if action not in FAILED_ACTIONS and not status.startswith("5"):
        return None  # no Action (or an unknown one): only a 5.x.x Status fails it
    if status.startswith("5"):
        hard = status.startswith("5.1.") or status == "5.2.1"
        return Failure(address, HARD if hard else FAILED, status, diagnostic)
    return Failure(address, FAILED, status if status.startswith("4") else "", diagnostic)


def _more_specific(status: str, diagnostic: str) -> str:
    """Status X.0.0 made precise by the first other enhanced code of its class in the text."""
    for match in ENHANCED.finditer(diagnostic):
        code = ".".join(match.groups())
        if code[0] == status[0] and not code.endswith(".0.0"):
            return code
    return status


def _diagnostic(value: str) -> str:
    """`smtp; 550 5.1.1 <a@b>: User unknown` → `550 5.1.1 <a@b>: User unknown`."""
    value = DIAGNOSTIC_TYPE.sub("", value, count=1)
    return " ".join(value.split())[:MAX_DIAGNOSTIC]


def _group_address(group: dict[str, str]) -> str | None:
    for name in RECIPIENT_FIELDS:
        address = _typed_address(group.get(name, ""))
        if address:
            return address
    return None


def _typed_address(value: str) -> str | None:
    """`rfc822; <Ann@Example.com>` → ann@example.com; None when the value is of another type
    (x400, unknown) or is no address."""
    kind, sep, rest = value.partition(";")
    if not sep:
        kind, rest = "", value
    kind = kind.strip().lower()
    if kind not in ADDRESS_TYPES and kind:
        return None
    if kind == "utf-8" or not kind:
        rest = UNITEXT_ESCAPE.sub(_unescape, rest)
    address = parseaddr(rest.strip())[1] or rest.strip().strip("<>").strip()
    address = address.strip().lower()
    if not ADDRESS.match(address) or address.startswith("imcea"):
        return None
    return address


def _unescape(match: re.Match[str]) -> str:
    try:
        return chr(int(match.group(1), 16))
    except (ValueError, OverflowError):
        return match.group(0)


def _unique(failures: list[Failure]) -> list[Failure]:
    """One failure per address: the first, made HARD if another group said HARD."""
    seen: dict[str, Failure] = {}
    for failure in failures:
        first = seen.get(failure.address)
        if first is None or (first.verdict != HARD and failure.verdict == HARD):
            seen[failure.address] = failure
    return list(seen.values())


# --- flufl.bounce --------------------------------------------------------------------------------


def _flufl(msg: Message) -> tuple[list[str], list[str]] | None:
    """flufl.bounce's (temporary, permanent) addresses, sorted, or None when it raised."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on odd mail must not stop the inbox
        return None
    return _decoded(temporary), _decoded(permanent)


def _decoded(addresses: frozenset[bytes]) -> list[str]:
    found = {a.decode("utf-8", "replace").strip().strip("<>").lower() for a in addresses}
    return sorted(a for a in found if ADDRESS.match(a))


def _flufl_failures(msg: Message) -> list[Failure] | None:
    """A bounce only flufl.bounce recognises: permanent failures HARD, temporary ones nothing."""
    answer = _flufl(msg)
    if answer is None:
        return None
    temporary, permanent = answer
    if not temporary and not permanent:
        return None
    return [Failure(address, HARD, "", "") for address in permanent]


def _addresses_from_flufl(
    msg: Message, unaddressed: list[Failure], known: set[str]
) -> list[Failure]:
    """Failed groups with no usable address (X.400 ...) take flufl.bounce's addresses, those
    other groups already name set aside. flufl's own RFC 3464 reader stops at the first report
    naming anything, so when that leaves nothing new, the report is read again with its
    delivery-status parts shown as plain text, for flufl's other detectors."""
    candidates = _new_addresses(_flufl(msg), known)
    if not candidates:
        candidates = _new_addresses(_flufl(_status_parts_as_text(msg)), known)
    if not candidates:
        return []
    verdicts = {(f.verdict, f.status, f.diagnostic) for f in unaddressed}
    if len(verdicts) == 1:
        verdict, status, diagnostic = verdicts.pop()
    else:  # several such groups disagree: which address is which is unknowable
        verdict, status, diagnostic = FAILED, "", ""
    return [Failure(address, verdict, status, diagnostic) for address in candidates]


def _new_addresses(answer: tuple[list[str], list[str]] | None, known: set[str]) -> list[str]:
    if answer is None:
        return []
    temporary, permanent = answer
    return [a for a in permanent if a not in known] or [a for a in temporary if a not in known]


def _status_parts_as_text(msg: Message) -> Message:
    try:
        clone = copy.deepcopy(msg)
        for part in _parts(clone, into_messages=False):
            if _ctype(part) in STATUS_PARTS:
                text = _status_text(part)
                del part["Content-Transfer-Encoding"]
                part.set_payload(text)
                part.set_type("text/plain")
    except Exception:
        return Message()
    return clone


# --- The delivery-status part as text, cut into recipient groups --------------------------------


def _status_text(part: Message) -> str:
    """The delivery-status fields as text, however the parser left them ("" if unreadable)."""
    try:
        return _status_text_of(part)
    except Exception:
        log.debug("unreadable delivery-status part", exc_info=True)
        return ""


def _status_text_of(part: Message) -> str:
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if not isinstance(payload, list):
        data = part.get_payload(decode=True)
        return _to_text(data if isinstance(data, bytes) else b"", part.get_content_charset())
    text = "\n\n".join(_block_text(block) for block in payload if isinstance(block, Message))
    if encoding == "base64":
        try:
            return _to_text(binascii.a2b_base64("".join(text.split()).encode("ascii")), None)
        except (binascii.Error, ValueError):
            return text
    if encoding == "quoted-printable":
        return _to_text(quopri.decodestring(text.encode("utf-8", "surrogateescape")), None)
    return text


def _block_text(block: Message) -> str:
    lines = [f"{name}: {_header_text(value)}" for name, value in block.items()]
    payload = block.get_payload()
    if isinstance(payload, list):  # message/global-delivery-status: parsed as one message
        payload = "\n\n".join(_block_text(b) for b in payload if isinstance(b, Message))
    else:  # get_payload() alone would turn 8-bit text into U+FFFD
        data = block.get_payload(decode=True)
        payload = _to_text(data, None) if isinstance(data, bytes) else ""
    if payload.strip():
        # No blank line after the fields when the parser met a line that is no field (a
        # quoted-printable soft break, say): put none back.
        run_on = any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in block.defects)
        lines.append(("" if run_on or not lines else "\n") + payload)
    return "\n".join(lines)


def _header_text(value: object) -> str:
    """A header value as text: raw 8-bit (UTF-8) bytes come back from compat32 as a Header."""
    if isinstance(value, Header):
        chunks = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                chunks.append(chunk.decode(_charset(charset), "replace"))
            else:
                chunks.append(chunk)
        return "".join(chunks)
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _recipient_groups(text: str) -> list[dict[str, str]]:
    """The per-recipient groups of a delivery-status text, each {lower-case field: first value}.
    Blank lines part the groups; fields before the first recipient field are the per-message
    block. Leniencies: a group repeating a recipient field starts another (a missing blank
    line); a later block naming no recipient belongs to the group before it; and when every
    block holds one field at most (doubled line endings), blank lines are ignored."""
    blocks = _blocks(text)
    if len(blocks) > 2 and max(len(b) for b in blocks) <= 1:
        blocks = [[field for block in blocks for field in block]]
    groups: list[list[tuple[str, str]]] = []
    for block in blocks:
        for piece in _split_block(block):
            names = {name for name, _ in piece}
            if not names & set(RECIPIENT_FIELDS):
                if groups:
                    groups[-1].extend(piece)
                continue  # the per-message block
            previous = {name for name, _ in groups[-1]} if groups else set()
            if previous == {"original-recipient"} and "original-recipient" not in names:
                groups[-1].extend(piece)
            else:
                groups.append(list(piece))
    result = []
    for group in groups:
        fields: dict[str, str] = {}
        for name, value in group:
            fields.setdefault(name, value)
        result.append(fields)
    return result


def _blocks(text: str) -> list[list[tuple[str, str]]]:
    """Blank-line separated blocks of `Name: value` fields (continuation lines unfolded)."""
    text = re.sub(r"\r*\n|\r", "\n", text)
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in text.split("\n"):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        if line[0] in " \t" and blocks[-1]:
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, f"{value} {line.strip()}")
            continue
        match = FIELD.match(line)
        if match:
            blocks[-1].append((match.group(1).lower(), match.group(2).strip()))
    return [block for block in blocks if block]


def _split_block(block: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """A block cut where another recipient begins (a blank line missing): at a recipient field
    the piece already has, or at an Original-Recipient once the piece has a Final-Recipient and
    an Action or Status. Orders seen in the wild stay whole: Final then Original (Postfix),
    Action and Status first (Exim, Sun/Oracle Messaging Server)."""
    pieces: list[list[tuple[str, str]]] = [[]]
    for name, value in block:
        names = {n for n, _ in pieces[-1]}
        complete = "final-recipient" in names and bool(names & {"action", "status"})
        if name in RECIPIENT_FIELDS and (
            name in names or (name == "original-recipient" and complete)
        ):
            pieces.append([])
        pieces[-1].append((name, value))
    return pieces


# --- Which message came back -------------------------------------------------------------------


def _message_ids(msg: Message, addresses: Iterable[str] = ()) -> list[str]:
    """The Message-IDs a report names, most specific first (see Report). What its text holds in
    angle brackets is no Message-ID when it is a recipient's address (`addresses`), the
    report's own From/To/Sender/Return-Path, or a mailto: link."""
    own = set(_ids(msg.get("Message-ID")))
    not_ids = {a.lower() for a in addresses} | _envelope_addresses(msg)
    returned: list[Message] = []
    wrapped: list[Message] = []
    headers: list[Message] = []
    texts: list[str] = []
    for part in _parts(msg, into_messages=True):
        kind = _ctype(part)
        try:
            if kind in RETURNED_MESSAGES:
                inner = _returned_message(part)
                if inner is not None and _status_parts(inner, into_messages=False):
                    wrapped.append(inner)  # a report forwarded whole: not what came back
                    own.update(_ids(inner.get("Message-ID")))
                elif inner is not None:
                    returned.append(inner)
            elif kind in RETURNED_HEADERS:
                headers.append(_returned_headers(part))
            elif kind in STATUS_PARTS:
                texts.append(_status_text(part))
            elif kind.startswith("text/") and not part.is_multipart():
                texts.append(_part_text(part))
        except Exception:  # one undecodable part does not hide the others' ids
            log.debug("unreadable %s part in a report", kind, exc_info=True)
    found = [i for m in returned for i in _ids(m.get("Message-ID"))]
    found += [i for h in headers for i in _ids(h.get("Message-ID"))]
    for source in [*returned, *headers, msg, *wrapped]:
        found += _ids(source.get("In-Reply-To")) + _ids(source.get("References"))[::-1]
    in_text = [i for text in texts for i in MESSAGE_ID_LINE.findall(text)]
    in_text += [i for text in texts for i in MESSAGE_ID.findall(text)]
    found += [i for i in in_text if not _is_address(i, not_ids)]
    return [i for i in dict.fromkeys(found) if i not in own][:MAX_IDS]


def _envelope_addresses(msg: Message) -> set[str]:
    values = [_header_text(msg.get(name, "")) for name in ("From", "To", "Sender", "Return-Path")]
    return {address.lower() for _, address in getaddresses(values) if address}


def _is_address(candidate: str, addresses: set[str]) -> bool:
    inner = candidate[1:-1].lower()
    return inner in addresses or inner.startswith("mailto:")


def _ids(value: object) -> list[str]:
    if value is None:
        return []
    return MESSAGE_ID.findall(_header_text(value))


def _returned_message(part: Message) -> Message | None:
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
        if inner is not None and encoding in ("base64", "quoted-printable"):
            raw = inner.as_string().encode("utf-8", "surrogateescape")
            data = binascii.a2b_base64(raw) if encoding == "base64" else quopri.decodestring(raw)
            return email.message_from_bytes(data, policy=email.policy.compat32)
        return inner
    data = part.get_payload(decode=True)
    if isinstance(data, bytes) and data:
        return email.message_from_bytes(data, policy=email.policy.compat32)
    return None


def _returned_headers(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/global-headers: parsed as a message
        return payload[0] if payload and isinstance(payload[0], Message) else Message()
    return HeaderParser(policy=email.policy.compat32).parsestr(_part_text(part))


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return _to_text(data[:MAX_TEXT], part.get_content_charset())


# --- Walking and decoding ------------------------------------------------------------------------


def _parts(msg: Message, *, into_messages: bool) -> Iterator[Message]:
    """The message and its parts, depth first, without recursion; delivery-status and returned
    header parts are leaves; returned messages are entered only when `into_messages`."""
    stack = [(msg, 0)]
    count = 0
    while stack and count < MAX_PARTS:
        part, depth = stack.pop()
        count += 1
        yield part
        kind = _ctype(part)
        if depth >= MAX_DEPTH or kind in STATUS_PARTS or kind in RETURNED_HEADERS:
            continue
        if kind in RETURNED_MESSAGES and not into_messages:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            children = [(p, depth + 1) for p in payload if isinstance(p, Message)]
            stack.extend(reversed(children))


def _ctype(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _to_text(data: bytes, charset: str | None) -> str:
    return data.decode(_charset(charset), "replace")


def _charset(charset: str | None) -> str:
    """A codec Python has for `charset`, else UTF-8 (unknown, misspelt or absent)."""
    try:
        return codecs.lookup(charset or "utf-8").name
    except (LookupError, ValueError, TypeError):
        return "utf-8"
