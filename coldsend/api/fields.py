"""Shapes that have their own name in the OpenAPI schema, built the same way by every app: the
enum of a model's choices, the 409 body of an operation, and one-line text."""

import re
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


LINE_BREAKS = r"\r\n"
CONTROL_CHARACTERS = r"\x00-\x1f\x7f"
LINE_BREAK_MESSAGE = "Must be a single line: CR and LF are not allowed."
CONTROL_CHARACTER_MESSAGE = "Must not contain line breaks or control characters."


class SingleLineCharField(serializers.CharField):
    """Text that may end up in a mail header: any of `forbidden` (a regex character-class body;
    CR and LF by default) is a 400, checked on the text as sent, before trimming, so a leading or
    trailing line break is refused too. The schema states it in the field's `pattern`
    (coldsend.api.schema.text_pattern)."""

    def __init__(
        self, *, forbidden: str = LINE_BREAKS, message: str = LINE_BREAK_MESSAGE, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.forbidden_characters = forbidden
        self.forbidden = re.compile(f"[{forbidden}]")
        self.forbidden_message = message

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str) and self.forbidden.search(data):
            raise serializers.ValidationError(self.forbidden_message, code="invalid")
        return super().run_validation(data)
