"""Placeholders in subjects and bodies: `{{name}}` and `{{name|fallback}}`, nothing else.

A regex substitution, never a template engine: `{% … %}`, filters, attribute access
(`{{ settings.SECRET_KEY }}`) are not placeholders and stay as the text they are."""

import re

from leads.models import Lead

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_\-]+)\s*(?:\|([^{}]*))?\}\}")
LEAD_FIELDS = ("first_name", "last_name", "company", "email")


def lead_values(lead: Lead) -> dict[str, str]:
    values = {
        key: value
        for key, value in (lead.custom_fields or {}).items()
        if isinstance(key, str) and isinstance(value, str)
    }
    values.update({name: getattr(lead, name) or "" for name in LEAD_FIELDS})
    return values


def render(text: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        value = values.get(match.group(1), "")
        if value.strip():
            return value
        return (match.group(2) or "").strip()

    return PLACEHOLDER.sub(substitute, text)
