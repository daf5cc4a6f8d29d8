"""JSON bodies are taken as typed: DRF would turn `0` into "0" for a string field, and "5" or
"true" into numbers and booleans; the API refuses them instead, as its schema says (a client
that sends the wrong type has a bug worth hearing about)."""

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
