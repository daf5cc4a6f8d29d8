"""JSON bodies are taken as typed: DRF would turn `0` into "0" for a string field, and "5" or
"true" into numbers and booleans; the API refuses them instead, as its schema says (a client
that sends the wrong type has a bug worth hearing about). Unknown and read-only fields are
refused too."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

NOT_A_STRING = "Must be a string."
NOT_AN_INTEGER = "Must be an integer."
NOT_A_NUMBER = "Must be a number."
NOT_A_BOOLEAN = "Must be true or false."


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def type_error(field: serializers.Field, value: Any) -> str | dict[int, list[str]] | None:
    """Why `value` (parsed JSON) has the wrong type for `field`, or None when it has the right
    one. Containers and nested objects are checked by DRF itself."""
    if value is None:
        return None  # `null` is the field's own business (allow_null)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else NOT_A_BOOLEAN
    if isinstance(field, serializers.IntegerField):
        return None if _is_integer(value) else NOT_AN_INTEGER
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else NOT_A_NUMBER
    string_fields = (
        serializers.CharField,
        serializers.ChoiceField,
        serializers.UUIDField,
        serializers.DateField,
        serializers.DateTimeField,
        serializers.TimeField,
        serializers.PrimaryKeyRelatedField,
    )
    if isinstance(field, string_fields):
        return None if isinstance(value, str) else NOT_A_STRING
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        problems = {i: type_error(field.child, item) for i, item in enumerate(value)}
        return {i: [problem] for i, problem in problems.items() if isinstance(problem, str)} or None
    return None


def type_errors(fields: Mapping[str, serializers.Field], data: Mapping) -> dict[str, Any]:
    """`{field: [message]}` for each writable field of `data` whose JSON type is wrong."""
    errors: dict[str, Any] = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None or field.read_only:
            continue
        problem = type_error(field, value)
        if problem:
            errors[name] = problem if isinstance(problem, dict) else [problem]
    return errors


UNKNOWN_FIELD = "Unknown field."
READ_ONLY_FIELD = "This field is read-only."


class StrictFieldsMixin:
    """For a serializer: refuses JSON of the wrong type and any key that is not a writable field,
    so a typo or a read-only field is a 400, never silently ignored (a client never believes it
    set something it did not). Errors found here are answered together with the fields' own."""

    refuses_unknown_fields = True  # the schema says `additionalProperties: false`
    read_only_messages: dict[str, str] = {}  # a read-only field's own reason, if it has one

    def input_errors(self, data: Mapping) -> dict[str, Any]:
        """`{key: [message]}` for the keys of `data` the serializer refuses before reading it."""
        errors = type_errors(self.fields, data)
        for key in data:
            field = self.fields.get(key)
            if field is None:
                if self.refuses_unknown_fields:
                    errors[key] = [UNKNOWN_FIELD]
            elif field.read_only:
                errors[key] = [self.read_only_messages.get(key, READ_ONLY_FIELD)]
        return errors

    def to_internal_value(self, data: Any) -> Any:
        errors = self.input_errors(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value
