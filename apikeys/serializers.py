from rest_framework import serializers

from apikeys.models import APIKey


class MeSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = APIKey
        fields = ["name", "prefix", "workspace", "scopes", "expires_at", "created_at"]
        read_only_fields = fields
