"""OpenAPI: each operation's required scope in its description, the API-key security scheme,
the Idempotency-Key header on POSTs and the error answers every operation can give (API.md §3)."""

import re
from typing import Any

from django.core.validators import RegexValidator
from django.db.models import UUIDField
from drf_spectacular.drainage import has_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_view_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    inline_serializer,
)
from rest_framework import serializers

from apikeys.permissions import required_scopes
from coldsend.api.idempotency import IDEMPOTENCY_KEY_PATTERN
from coldsend.core.errors import Conflict, ErrorCode

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
MISSING_SCOPES = inline_serializer(
    "MissingScopesError",
    {
        "detail": serializers.CharField(),
        "required": serializers.ListField(child=serializers.CharField()),
        "granted": serializers.ListField(child=serializers.CharField()),
    },
)
CONFLICT = inline_serializer(
    "ConflictError",
    {
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=sorted(Conflict.codes)),
        "status": serializers.CharField(required=False, help_text="The current state."),
        "allowed": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="States the action needs."
        ),
        "problems": serializers.ListField(child=serializers.CharField(), required=False),
        "original_status": serializers.IntegerField(
            required=False,
            help_text="idempotency_response_not_stored: the status the request answered.",
        ),
        "id": serializers.CharField(
            required=False,
            help_text="idempotency_response_not_stored: the id of the object it answered.",
        ),
    },
)
IDEMPOTENCY_REUSED = inline_serializer(
    "IdempotencyKeyReusedError",
    {
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=[ErrorCode.IDEMPOTENCY_KEY_REUSED]),
    },
)
IDEMPOTENCY_IN_PROGRESS = inline_serializer(
    "IdempotencyInProgressError",
    {
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=[ErrorCode.IDEMPOTENCY_IN_PROGRESS]),
    },
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    OpenApiParameter.HEADER,
    description=(
        "Makes a POST safe to retry (Stripe's semantics). The first answer for an API key and "
        "Idempotency-Key is kept 24 hours and replayed, with `Idempotent-Replayed: true`, to a "
        "retry with the same body; the same key with another body or path is 422; a retry "
        "while the first is still running is 409. Answers that refuse a request before it ran "
        "(400, 401, 403, 413, 429) and server errors are not kept. A retry is answered only "
        "after the key's checks (401, 403, 405) and counts against its rate limit (429). An "
        "answer over IDEMPOTENCY_MAX_STORED_BYTES (64 KB), or past the API key's budget of "
        "IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY (10 MB) per 24 hours, is kept as fingerprint and "
        "status only: a retry with the same body is not run again and answers 409 "
        "`idempotency_response_not_stored` with `original_status` and the object's `id` (the "
        "request already succeeded: fetch the object). 1 to 255 printable ASCII "
        "characters, no space at either end (a UUID is a good choice). A malformed value is a "
        "400, answered after the key and its scopes are checked (401, 403) and before the "
        "request runs."
    ),
)

BODY_METHODS = {"POST", "PUT", "PATCH"}

# What Python's str.strip() removes (str.isspace), spelled out: ECMA's `\s` differs.
WHITESPACE = (
    r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029"
    r"\u202f\u205f\u3000"
)


def _without_redundant_blank_branch(schema: dict) -> dict:
    """drf-spectacular offers a blank string as a second `oneOf` branch of an allow_blank field
    with a pattern; when the pattern already matches "", both branches would match it and
    `oneOf` would refuse it: one branch is enough."""
    branches = schema.get("oneOf", [])
    if len(branches) == 2 and branches[1] == {"type": "string", "maxLength": 0}:
        inner = branches[0]
        simple = "format" not in inner and "minLength" not in inner
        if simple and re.search(inner.get("pattern", ""), ""):
            schema = {key: value for key, value in schema.items() if key != "oneOf"}
            schema.update(inner)
    return schema


def text_pattern(field: serializers.CharField) -> str:
    """The `pattern` of what a text field accepts: no NUL (DRF refuses it everywhere), none of
    a one-line field's forbidden characters, and, unless blank is allowed, at least one
    character that trimming keeps."""
    forbidden = r"\u0000" + getattr(field, "forbidden_characters", "").replace(r"\x", r"\u00")
    blank_refused = not field.allow_blank and (
        field.trim_whitespace or getattr(field, "refuses_whitespace_only", False)
    )
    if blank_refused:
        return f"^[^{forbidden}]*[^{forbidden}{WHITESPACE}][^{forbidden}]*$"
    return f"^[^{forbidden}]*$"


INVALID_LIST_QUERY = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Invalid query: `{field: [message]}`. A `limit` outside 1-100, a filter value "
    "that is not one of its choices, or a `cursor` that is not one this API handed out (a "
    'forged, altered or truncated one) is a 400, e.g. `{"cursor": ["Invalid cursor."]}`.',
)


class ScopedAutoSchema(AutoSchema):
    def _scopes(self) -> list[str] | None:
        try:
            return required_scopes(self.view)
        except ValueError:
            return None

    def _is_public(self) -> bool:
        return getattr(self.view, "authentication_classes", None) == []

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:  # after extend_schema(description=…), which replaces ours
            description = operation.get("description", "")
            operation["description"] = f"{description}\n\n{self._scope_note()}".strip()
        return operation

    def _scope_note(self) -> str:
        scopes = self._scopes()
        if self._is_public():
            return "No API key needed."
        if scopes is None:
            return "Not available to API keys."
        if not scopes:
            return "Required scope: none (any valid API key)."
        return "Required scope: " + ", ".join(f"`{s}`" for s in scopes) + "."

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self.method == "POST" and not self._is_public():
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict]:
        parameters = super()._resolve_path_parameters(variables)
        model = get_view_model(self.view, emit_warnings=False)
        if model is not None and isinstance(model._meta.pk, UUIDField):
            for parameter in parameters:
                if parameter["name"] in ("id", "pk"):
                    # Routes take any segment so that 401 and 403 come first; a value that is not
                    # an id of the key's workspace is a 404.
                    parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters

    def _postprocess_serializer_schema(
        self, schema: dict, serializer: Any, direction: str
    ) -> dict[str, Any]:
        schema = super()._postprocess_serializer_schema(schema, serializer, direction)
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False  # an unknown field is a 400, not ignored
        return schema

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict | None:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not has_override(field, "field")
            and not any(isinstance(v, RegexValidator) for v in field.validators)
            and isinstance(schema, dict)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = text_pattern(field)
        return schema

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> tuple:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, PolymorphicProxySerializer):
            required = True  # every shape has required fields: an empty body is a 400
        return schema, required

    def _insert_field_validators(self, field: Any, schema: dict) -> None:
        super()._insert_field_validators(field, schema)
        collapsed = _without_redundant_blank_branch(schema)
        if collapsed is not schema:
            schema.clear()
            schema.update(collapsed)

    def _process_override_parameters(self, direction: str = "request") -> dict:
        result = super()._process_override_parameters(direction)
        for parameter in self.get_override_parameters():
            key = getattr(parameter, "name", None), getattr(parameter, "location", None)
            if (
                key[1] == OpenApiParameter.QUERY
                and result.get(key)
                and parameter.allow_blank
                and not parameter.required
            ):
                # DRF reads an empty optional query value (`?to=`) as absent: the schema says so.
                result[key]["allowEmptyValue"] = True
        return result

    def _get_filter_parameters(self) -> list[dict]:
        # django-filter skips a filter whose value is empty (`?status=`): the schema says so.
        return [
            {**parameter, "allowEmptyValue": True} for parameter in super()._get_filter_parameters()
        ]

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if self._is_public():
            return responses
        errors: dict[str, Any] = {
            "401": ERROR,
            "403": MISSING_SCOPES,
            "405": ERROR,
            "429": ERROR,
            "503": ERROR,  # the cache (rate limits, idempotency) unreachable; with Retry-After
        }
        has_query = (
            bool(self._get_filter_parameters())
            or self._is_list_view()
            or any(
                isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY
                for p in self.get_override_parameters()
            )
        )
        if self._is_list_view():
            errors["400"] = INVALID_LIST_QUERY
        elif self.method in BODY_METHODS or has_query:
            errors["400"] = OpenApiTypes.OBJECT
        if "{" in self.path:
            errors["404"] = ERROR
        if self.method in BODY_METHODS:
            errors["413"] = ERROR
            if self.get_request_serializer() is not None:
                errors["415"] = ERROR
        # A view whose deletes nothing can refuse says so (`delete_may_conflict = False`).
        if self.method == "DELETE" and getattr(self.view, "delete_may_conflict", True):
            errors["409"] = CONFLICT
        if self.method == "POST":
            # Any POST with an Idempotency-Key can meet a retry still running (409) or a reused
            # key (422), besides the conflicts of its own.
            errors["409"] = IDEMPOTENCY_IN_PROGRESS
            errors["422"] = IDEMPOTENCY_REUSED
            if "409" in responses:
                responses["409"] = self._with_idempotency_conflict(responses["409"], direction)
        for code, serializer in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses

    def _with_idempotency_conflict(self, response: dict[str, Any], direction: str) -> dict:
        """The operation's own 409 body, or the idempotency one."""
        in_progress = self._get_response_for_code(IDEMPOTENCY_IN_PROGRESS, "409", direction)
        extra = next(iter(in_progress["content"].values()))["schema"]
        for media in response.get("content", {}).values():
            media["schema"] = {"oneOf": [media["schema"], extra]}
        description = response.get("description", "")
        response["description"] = (
            f"{description} Or `idempotency_in_progress`: a request with this Idempotency-Key "
            "is still running."
        ).strip()
        return response


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.APIKeyAuthentication"
    name = ["ApiKeyHeader", "BearerKey"]

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[dict]:
        # Either header will do: alternatives, not both at once.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict]:
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer", "bearerFormat": "cs_live_…"},
        ]


def add_links(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: OpenAPI links from each create operation's 201 to
    every operation on the created object (`…/{id}/` and its actions), with `id` taken from the
    response body. Derived from the paths, so a new action on an object is linked too; clients
    and stateful fuzzers follow them."""
    paths = result.get("paths", {})
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for other_path, other_item in paths.items():
            if not other_path.startswith(f"{path}{{id}}/"):
                continue
            for method, operation in other_item.items():
                name = operation["operationId"]
                links[name] = {
                    "operationId": name,
                    "parameters": {"id": "$response.body#/id"},
                    "description": f"{method.upper()} {other_path} on the object just created.",
                }
        if links:
            created["links"] = dict(sorted(links.items()))
    return result
