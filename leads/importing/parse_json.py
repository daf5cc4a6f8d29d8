"""Parsing a JSON import: the body read in one streaming pass (bounded memory whatever it holds),
then its leads one at a time into ParsedRows."""

import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import ijson

from coldsend.core.errors import LONE_SURROGATE
from leads.importing.rows import (
    LEAD_FIELDS,
    NAME_FIELDS,
    ParsedRow,
    custom_fields_problem,
    max_rows,
)
from leads.values import MAX_CUSTOM_FIELDS, storable


def json_rows(leads: Iterable[Any]) -> Iterator[ParsedRow]:
    for row, item in enumerate(leads, start=1):
        if not isinstance(item, dict):
            yield ParsedRow(row, "", "", "", "", {}, "Each lead must be an object.")
            continue
        email = item.get("email", "")
        yield ParsedRow(
            row,
            _shown(email.strip()) if isinstance(email, str) else "",
            *(value.strip() for value in _json_names(item)),
            _json_custom_fields(item.get("custom_fields")),
            _json_problem(item),
        )


def _json_names(item: dict[str, Any]) -> Iterator[str]:
    for name in NAME_FIELDS:
        value = item.get(name, "")
        yield value if isinstance(value, str) else ""


def _json_custom_fields(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        key: text for key, raw in value.items() if isinstance(raw, str) and (text := raw.strip())
    }


def _json_problem(item: dict[str, Any]) -> str | None:
    unknown = sorted(item.keys() - LEAD_FIELDS)
    if unknown:
        return f"Unknown field {unknown[0]!r}: put extra values in custom_fields."
    for name in ("email", *NAME_FIELDS):
        if name in item and not isinstance(item[name], str):
            return f"{name} must be a string."
    custom_fields = item.get("custom_fields", {})
    if not isinstance(custom_fields, dict) or not all(
        isinstance(value, str) for value in custom_fields.values()
    ):
        return "custom_fields must be an object of strings."
    texts = [item.get(name, "") for name in ("email", *NAME_FIELDS)]
    if not all(storable(text) for text in [*texts, *custom_fields, *custom_fields.values()]):
        return "Values may not contain NUL characters or invalid Unicode."
    return custom_fields_problem(custom_fields)


def _shown(text: str) -> str:
    """The text with lone surrogates replaced, so a report that repeats it can be sent."""
    return text.encode("utf-8", "replace").decode("utf-8")


# A lead is an object whose values are strings, or one object of strings (custom_fields): in the
# body that is the top object, `leads`, the lead, and one level below it. Deeper is refused.
MAX_DEPTH = 4
TOO_DEEP = (
    "The JSON is nested too deeply for leads: a lead's values are strings, or one object of "
    "strings (custom_fields)."
)
# Values a lead may hold in all (its fields, custom fields, list items): far more than a valid
# lead has (4 fields and 50 custom fields), few enough that building one lead costs little.
MAX_VALUES_PER_LEAD = 1000

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


class JSONBodyError(Exception):
    """The body is not JSON, or is shaped so that no lead could be read from it (answered 400)."""


class LeadItems:
    """The `leads` list of a JSON import body, read one lead at a time from the raw body: its
    length is known (up to LEADS_IMPORT_MAX_ROWS + 1) without building it. `problem` says why
    no lead may be read from it (a lead with too many values)."""

    def __init__(self, raw: bytes, count: int, problem: str | None) -> None:
        self.raw, self.count, self.problem = raw, count, problem

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        return ijson.items(io.BytesIO(self.raw), "leads.item")


def read_json_import(raw: bytes) -> Any:
    """The body of a JSON import as `{"campaign_id": …, "leads": LeadItems}`, checked in one
    streaming pass without building it: other top-level values are left out, a container where
    a value of the lead shape is expected stands as an empty one of its kind, and the count of
    leads stops past LEADS_IMPORT_MAX_ROWS. JSONBodyError for malformed or too deep JSON."""
    # A lone surrogate is not text: the body is refused whole, as on every JSON endpoint.
    if _SURROGATE_ESCAPE.search(raw) and _lone_surrogates_as_nul(raw) != raw:
        raise JSONBodyError(LONE_SURROGATE)
    limit = max_rows()
    body: Any = None
    top_key = None
    depth = 0
    in_leads = False
    rows = values = 0
    problem = None
    items: LeadItems | None = None
    try:
        for event, value in ijson.basic_parse(io.BytesIO(raw)):
            if event == "map_key":
                if depth == 1:
                    top_key = value
                    if value == "leads" and items is not None:
                        raise JSONBodyError("The body has the key 'leads' twice.")
                continue
            if event == "end_map" or event == "end_array":
                depth -= 1
                if depth == 1:
                    in_leads = False
                continue
            opens = event == "start_map" or event == "start_array"
            if opens:
                depth += 1
                if depth > MAX_DEPTH:
                    raise JSONBodyError(TOO_DEEP)
            level = depth - 1 if opens else depth  # the level this value sits at
            if level == 0:
                body = ({} if event == "start_map" else []) if opens else value
            elif level == 1:
                if not isinstance(body, dict) or top_key not in ("campaign_id", "leads"):
                    continue
                if top_key == "leads" and event == "start_array":
                    in_leads = True
                    body["leads"] = items = LeadItems(raw, 0, None)
                else:
                    body[top_key] = ({} if event == "start_map" else []) if opens else value
            elif in_leads:
                if level == 2:
                    rows += 1
                    values = 0
                    if rows > limit and "campaign_id" in body:
                        break  # refused (413) once the campaign is checked: no need to read on
                else:
                    values += 1
                    if values > MAX_VALUES_PER_LEAD and problem is None:
                        problem = (
                            f"Lead {rows} holds more than {MAX_VALUES_PER_LEAD:,} values; a lead "
                            "has a few fields and at most "
                            f"{MAX_CUSTOM_FIELDS} custom fields."
                        )
    except ijson.JSONError as exc:
        raise JSONBodyError(f"JSON parse error - {_first_line(exc)}") from None
    if items is not None:
        items.count, items.problem = rows, problem
    return body


def _first_line(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else "malformed JSON."


def _lone_surrogates_as_nul(raw: bytes) -> bytes:
    r"""`\uD800`-style escapes that do not form a pair become `\u0000`: equally unstorable (the
    row is invalid for the same reason), and readable by the fast parser, which refuses them."""
    escapes = list(_ESCAPE.finditer(raw))
    lone: list[re.Match[bytes]] = []
    for index, match in enumerate(escapes):
        code = match.group(1)
        if code is None or not 0xD800 <= (unit := int(code, 16)) <= 0xDFFF:
            continue
        previous = escapes[index - 1] if index else None
        following = escapes[index + 1] if index + 1 < len(escapes) else None
        if unit <= 0xDBFF:  # high: needs a low one right after it
            paired = (
                following is not None
                and following.start() == match.end()
                and (
                    following.group(1) is not None
                    and 0xDC00 <= int(following.group(1), 16) <= 0xDFFF
                )
            )
        else:  # low: needs a high one right before it
            paired = (
                previous is not None
                and previous.end() == match.start()
                and (
                    previous.group(1) is not None and 0xD800 <= int(previous.group(1), 16) <= 0xDBFF
                )
            )
        if not paired:
            lone.append(match)
    if not lone:
        return raw
    parts, position = [], 0
    for match in lone:
        parts += [raw[position : match.start()], rb"\u0000"]
        position = match.end()
    parts.append(raw[position:])
    return b"".join(parts)
