"""Events over the API (API.md §10): every event is shown as `events.services.envelope` makes
it, the body webhooks sign too, so `GET events` and a delivery never disagree. The OpenAPI
document gets one component per event type (`Event_message_sent` …), built from the examples
in events.types, and `Event`, their `oneOf` told apart by `type`."""

import uuid
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from events.models import Event
from events.services import envelope
from events.types import EVENT_TYPES

EXAMPLE_EVENT_ID = "0199a3c6-2b3c-7d4e-8f5a-6b7c8d9e0f1a"
EXAMPLE_CREATED_AT = "2026-12-07T10:15:02.123456Z"
EXAMPLE_WORKSPACE = "acme"
# Keys of `data` that may be null (API.md §10: `step` is null for an answer; the account
# of a message may have been deleted since).
NULLABLE_KEYS = frozenset({"step", "sender_account_id"})


class EventSerializer(serializers.BaseSerializer):
    """An event exactly as `envelope` shows it (context: `workspace`, the key's workspace)."""

    def to_representation(self, event: Event) -> dict[str, Any]:
        return envelope(event, self.context["workspace"].slug)


def component_name(event_type: str) -> str:
    """`message.sent` → `Event_message_sent`."""
    return "Event_" + event_type.replace(".", "_")


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def value_schema(key: str, value: Any) -> dict[str, Any]:
    """The schema of one `data` value, read off its example: its JSON type (and the uuid or
    date-time format its example has), nullable where the contract says it may be null."""
    if isinstance(value, dict):
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k: value_schema(k, v) for k, v in value.items()},
        }
    elif isinstance(value, bool):
        schema = {"type": "boolean"}
    elif isinstance(value, int):
        schema = {"type": "integer"}
    elif isinstance(value, float):
        schema = {"type": "number"}
    elif isinstance(value, str):
        schema = {"type": "string"}
        if _is_uuid(value):
            schema["format"] = "uuid"
        elif key.endswith("_at"):
            schema["format"] = "date-time"
    else:
        schema = {}
    if key in NULLABLE_KEYS and schema:
        schema["nullable"] = True
    return schema


def data_schema(event_type: str) -> dict[str, Any]:
    """`data` of one type: the example's keys, none required (a key that does not apply is left
    out) and more allowed (payloads only ever gain fields)."""
    description, example = EVENT_TYPES[event_type]
    return {
        "type": "object",
        "description": f"{description} Payloads only ever gain fields; a key that does not "
        "apply is left out, never null-filled.",
        "properties": {key: value_schema(key, value) for key, value in example.items()},
        "example": example,
    }


class TypedEvent(serializers.Serializer):
    """Schema only: the base of the one serializer per event type (`event_type` says which)."""

    event_type = ""


class TypedEventSchema(OpenApiSerializerExtension):
    """Gives each event type's component a whole example event (its `data` from events.types)."""

    target_class = TypedEvent
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["example"] = example_event(type(self.target).event_type)
        return schema


def _typed_serializer(event_type: str) -> type[TypedEvent]:
    """The schema-only serializer of one event type (its component is named after it)."""
    description = EVENT_TYPES[event_type][0]
    name = component_name(event_type)

    @extend_schema_field({"type": "string", "enum": [event_type]})
    class TypeField(serializers.CharField):
        pass

    @extend_schema_field(data_schema(event_type))
    class DataField(serializers.JSONField):
        pass

    fields = {
        "id": serializers.UUIDField(
            help_text="The event's id; also the `webhook-id` of its deliveries (the same on "
            "every retry), so receivers dedupe on it."
        ),
        "type": TypeField(help_text=f"Always `{event_type}`."),
        "created_at": serializers.DateTimeField(
            help_text="When the change happened, taken inside its transaction (which may "
            "commit a little later)."
        ),
        "workspace": serializers.CharField(help_text="The workspace's slug."),
        "data": DataField(),
    }
    doc = f"`{event_type}`: {description}"
    body = {"__doc__": doc, "__module__": __name__, "event_type": event_type, **fields}
    return type(name, (TypedEvent,), body)


TYPED_SERIALIZERS: dict[str, type[TypedEvent]] = {
    event_type: _typed_serializer(event_type) for event_type in EVENT_TYPES
}


def example_event(event_type: str) -> dict[str, Any]:
    """A whole event of `event_type`, its `data` the example of events.types."""
    return {
        "id": EXAMPLE_EVENT_ID,
        "type": event_type,
        "created_at": EXAMPLE_CREATED_AT,
        "workspace": EXAMPLE_WORKSPACE,
        "data": EVENT_TYPES[event_type][1],
    }


def event_schema(many: bool = False) -> PolymorphicProxySerializer:
    """What the OpenAPI document says an event is: `Event`, one of the typed components."""
    return PolymorphicProxySerializer(
        component_name="Event",
        serializers=TYPED_SERIALIZERS,
        resource_type_field_name="type",
        many=many,
    )
