"""Parsing a JSON list of lead objects into ParsedRows."""

from collections.abc import Iterator
from typing import Any

from leads.importing.rows import LEAD_FIELDS, NAME_FIELDS, ParsedRow, custom_fields_problem
from leads.values import storable


def json_rows(leads: list[Any]) -> Iterator[ParsedRow]:
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
