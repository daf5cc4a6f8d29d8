"""Shapes that have their own name in the OpenAPI schema, built the same way by every app: the
enum of a model's choices, the 409 body of an operation, and one-line text."""

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from django.db.models import TextChoices
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def named_choice_field(choices: type[TextChoices], name: str) -> type[serializers.ChoiceField]:
    """A ChoiceField of `choices` whose enum is the schema component `name` (several models have
    a `status`, each with its own values)."""

    @extend_schema_field({"type": "string", "enum": choices.values}, component_name=name)
    class NamedChoiceField(serializers.ChoiceField):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(choices=choices.choices, **kwargs)

    NamedChoiceField.__name__ = NamedChoiceField.__qualname__ = f"{name}Field"
    return NamedChoiceField


def conflict_body(
    name: str, codes: Sequence[str], description: str = "", **fields: serializers.Field
) -> type[serializers.Serializer]:
    """The 409 body of one operation, the schema component `name`: the `detail` and `code` every
    409 has (see the shared `ConflictError`), the codes this operation can answer, and `fields`,
    what else it names."""
    body = {
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=list(codes)),
        **fields,
    }
    return type(name, (serializers.Serializer,), {"__doc__": description, **body})


def _class_of(*categories: str) -> str:
    """A regex character-class body of the Basic Multilingual Plane characters in Unicode
    `categories`, as \\uXXXX ranges (what the schema's `pattern` can state too)."""
    found = [c for c in range(0x10000) if unicodedata.category(chr(c)) in categories]
    ranges: list[list[int]] = []
    for code in found:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in ranges)


# Invisible characters that change how a header reads, refused wherever line breaks are: NEL
# and the line and paragraph separators, and format characters such as the bidi overrides
# (U+202E would turn a From name around).
INVISIBLE = r"\u0085" + _class_of("Cf", "Zl", "Zp")
LINE_BREAKS = r"\r\n"
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
LINE_BREAK_MESSAGE = "Must be a single line: CR and LF are not allowed."
CONTROL_CHARACTER_MESSAGE = "Must not contain line breaks or control characters."


class SingleLineCharField(serializers.CharField):
    """Text that may end up in a mail header: any of `forbidden` (a regex character-class body;
    CR and LF by default) or of INVISIBLE is a 400, checked on the text as sent, before
    trimming, so a leading or trailing line break is refused too. The schema states it in the
    field's `pattern` (coldsend.api.schema.text_pattern)."""

    def __init__(
        self, *, forbidden: str = LINE_BREAKS, message: str = LINE_BREAK_MESSAGE, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.forbidden_characters = forbidden + INVISIBLE
        self.forbidden = re.compile(f"[{forbidden}]")
        self.forbidden_message = message

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str):
            if self.forbidden.search(data):
                raise serializers.ValidationError(self.forbidden_message, code="invalid")
            if found := _INVISIBLE.search(data):
                character = found.group()
                name = unicodedata.name(character, "a control character")
                raise serializers.ValidationError(
                    f"Must not contain invisible characters: U+{ord(character):04X} ({name}).",
                    code="invalid",
                )
        return super().run_validation(data)


_INVISIBLE = re.compile(f"[{INVISIBLE}]")
