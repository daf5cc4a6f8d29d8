"""The campaign's part of the OpenAPI document that drf-spectacular cannot derive by itself."""

from typing import Any

from campaigns.serializers import MAX_STEPS


def steps_max_items(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A postprocessing hook: drf-spectacular leaves out a nested list serializer's
    `max_length`, so the documented `steps` gain their `maxItems` here."""
    for component in result.get("components", {}).get("schemas", {}).values():
        steps = component.get("properties", {}).get("steps")
        if steps and steps.get("type") == "array" and "$ref" in steps.get("items", {}):
            steps["maxItems"] = MAX_STEPS
    return result
