"""OpenAPI: each operation's required scope in its description, and the API-key security scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from apikeys.permissions import required_scopes


class ScopedAutoSchema(AutoSchema):
    def get_description(self) -> str:
        description = super().get_description() or ""
        try:
            scopes = required_scopes(self.view)
        except ValueError:
            scopes = None
        if getattr(self.view, "authentication_classes", None) == []:
            note = "No API key needed."
        elif scopes is None:
            note = "Not available to API keys."
        elif not scopes:
            note = "Required scope: none (any valid API key)."
        else:
            note = "Required scope: " + ", ".join(f"`{s}`" for s in scopes) + "."
        return f"{description}\n\n{note}".strip()


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.APIKeyAuthentication"
    name = ["ApiKeyHeader", "BearerKey"]

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict]:
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer", "bearerFormat": "cs_live_…"},
        ]
