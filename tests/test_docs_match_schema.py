"""Where the guides state an enum (docs/api.md, and docs/sending.md it links to), it is the
OpenAPI document's enum for that field, value for value: the campaign, lead, sender account and
message statuses, sender account types and security modes, the scopes and the error codes. The
values are read from the guides' own tables and lists, so an edit that drops or adds one fails."""

import re
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

from apikeys.scopes import KNOWN_SCOPES
from leads.models import Lead

ROOT = Path(__file__).resolve().parent.parent
API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SENDING_MD = (ROOT / "docs" / "sending.md").read_text(encoding="utf-8")
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


# The guides


def section(text: str, title: str) -> str:
    """The text under the heading `title` (its first words suffice, e.g. "2. Scopes"), up to the
    next heading of the same or a higher level; headings inside fenced code do not count."""
    lines = text.splitlines()
    fenced = False
    start = level = None
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,6}) (.+)", line)
        if heading is None:
            continue
        if start is not None and len(heading.group(1)) <= level:
            return "\n".join(lines[start:number])
        if start is None and heading.group(2).strip().startswith(title):
            start, level = number + 1, len(heading.group(1))
    assert start is not None, f"no section {title!r}"
    return "\n".join(lines[start:])


def table_row(text: str, first_cell: str) -> str:
    """The other cells of the one table row whose first cell is `first_cell`."""
    rows = [
        cells[1:]
        for line in text.splitlines()
        if line.startswith("|")
        and (cells := [c.strip() for c in line.strip().strip("|").split("|")])[0] == first_cell
    ]
    assert len(rows) == 1, f"{len(rows)} table rows start with {first_cell}"
    return " | ".join(rows[0])


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def values(text: str) -> list[str]:
    """The enum values a passage states: backticked upper-case words, HTTP methods aside."""
    upper = (v for v in backticked(text) if re.fullmatch(r"[A-Z][A-Z0-9_]*", v))
    return [v for v in upper if v not in HTTP_METHODS]


def parenthesis_after(text: str, opening: str) -> str:
    """What stands between `opening` (which ends with "(") and its closing parenthesis."""
    start = text.index(opening) + len(opening)
    depth = 1
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"no closing parenthesis after {opening!r}")


def same_values(stated: list[str], enum: list[str]) -> None:
    assert len(stated) == len(set(stated)), f"stated twice: {stated}"
    assert set(stated) == set(enum)


# The schema


def resolve(schema: dict, node: dict) -> dict:
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def field(schema: dict, component: str, name: str) -> dict:
    return schema["components"]["schemas"][component]["properties"][name]


def enum_of(schema: dict, component: str, name: str) -> list[str]:
    return resolve(schema, field(schema, component, name))["enum"]


def error_codes(schema: dict) -> set[str]:
    """Every `code` any error body of the document may carry."""
    codes: set[str] = set()
    for component in schema["components"]["schemas"].values():
        code = component.get("properties", {}).get("code")
        if code is not None:
            codes |= set(resolve(schema, code).get("enum", []))
    return codes


def required_scopes(schema: dict) -> set[str]:
    descriptions = [
        operation.get("description", "")
        for methods in schema["paths"].values()
        for operation in methods.values()
    ]
    return set(re.findall(r"Required scope: `([a-z_]+:[a-z_]+)`", "\n".join(descriptions)))


# The checks


def test_campaign_statuses(schema):
    row = table_row(section(API_MD, "Campaigns"), "`status`")
    same_values(values(row), enum_of(schema, "Campaign", "status"))


def test_lead_statuses(schema):
    row = table_row(section(API_MD, "Leads"), "`status`")
    same_values(values(row), enum_of(schema, "Lead", "status"))
    assert set(values(row)) == set(Lead.Status.values)


def test_sender_account_types_and_statuses(schema):
    accounts = section(API_MD, "Sender accounts")
    same_values(values(table_row(accounts, "`type`")), enum_of(schema, "SenderAccount", "type"))
    status = table_row(accounts, "`status`")
    read, _, settable = status.partition("`PATCH` sets")
    assert settable, "the status row says what PATCH sets"
    same_values(values(read), enum_of(schema, "SenderAccount", "status"))
    patch = "PatchedSenderAccountUpdateRequest"
    same_values(values(settable), enum_of(schema, patch, "status"))
    takes = re.search(r"^- `status` takes ([^(.]+)", accounts, re.M)
    assert takes, "the PATCH list says which statuses `status` takes"
    same_values(values(takes.group(1)), enum_of(schema, patch, "status"))


@pytest.mark.parametrize(
    ("block", "component"), [("smtp", "SMTPSettings"), ("imap", "IMAPSettings")]
)
def test_sender_account_security_modes_and_their_defaults(schema, block, component):
    row = table_row(section(API_MD, "Sender accounts"), f"`{block}`")
    stated = parenthesis_after(row, "`security` (")
    same_values(values(stated), enum_of(schema, component, "security"))
    default = re.match(r"`([A-Z]+)` default", stated)
    assert default, f"{block}: the default security is stated first"
    assert default.group(1) == field(schema, component, "security")["default"]


def test_what_you_can_see_in_the_sending_guide(schema):
    seen = section(SENDING_MD, "What you can see")
    for first_cell, component in [
        ("`GET leads/{id}/messages`", "OutboundMessage"),
        ("`GET sender_accounts/{id}`", "SenderAccount"),
    ]:
        stated = parenthesis_after(table_row(seen, first_cell), "`status` (")
        words = re.findall(r"\b[A-Z][A-Z_]+\b", stated)
        same_values(words, enum_of(schema, component, "status"))


def test_the_scopes(schema):
    table = section(API_MD, "2. Scopes")
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", table, re.M)
    assert rows, "the scope table"
    stated = [
        f"{resource}:{action}" for resource, actions in rows for action in backticked(actions)
    ]
    assert len(stated) == len(set(stated))
    assert {s for s in stated if not s.endswith(":all")} == required_scopes(schema)
    assert "`*` grants everything" in table
    assert {*stated, "*"} == set(KNOWN_SCOPES)


def test_the_error_codes(schema):
    stated = set(re.findall(r'"code": "([a-z_]+)"', API_MD))
    stated |= set(re.findall(r"\b4\d\d `([a-z_]+)`", API_MD))
    assert stated == error_codes(schema)


def test_the_parsing_notices_a_dropped_or_added_value(schema):
    """The helpers above really read the values: a changed row no longer matches."""
    row = table_row(section(API_MD, "Leads"), "`status`")
    enum = enum_of(schema, "Lead", "status")
    with pytest.raises(AssertionError):
        same_values(values(row.replace(", `FAILED`", "")), enum)
    with pytest.raises(AssertionError):
        same_values(values(row + ", `ARCHIVED`"), enum)
