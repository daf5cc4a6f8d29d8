from typing import Any

from rest_framework import serializers

from apikeys.models import APIKey


class MeSerializer(serializers.Serializer):
    """The key making the request. Built by hand in to_representation: this answers on the
    hottest path, and the declared fields are for the schema."""

    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first 16 characters, safe to display.")
    workspace = serializers.CharField(help_text="The workspace's slug.")
    scopes = serializers.ListField(child=serializers.CharField(), help_text="As granted.")
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, key: APIKey) -> dict[str, Any]:
        return {
            "name": key.name,
            "prefix": key.prefix,
            "workspace": key.workspace.slug,
            "scopes": key.scopes,
            "expires_at": _isoformat(key.expires_at),
            "created_at": _isoformat(key.created_at),
        }


def _isoformat(value: Any) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None
