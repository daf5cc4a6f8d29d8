from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

from apikeys.models import APIKey
from apikeys.scopes import RESOURCES, missing_scopes, scope

if TYPE_CHECKING:  # rest_framework.views imports this module through the settings
    from rest_framework.request import Request
    from rest_framework.views import APIView

KEY_REQUIRED = "API key required. Include your API key in X-API-Key header."

# How a viewset's standard actions map to scope actions; custom @actions name theirs
# with `scope_action=` next to the decorator.
VIEWSET_SCOPE_ACTIONS = {
    "list": "read",
    "retrieve": "read",
    "create": "create",
    "update": "update",
    "partial_update": "update",
    "destroy": "delete",
}


class MissingScopes(PermissionDenied):
    def __init__(self, required: list[str], granted: list[str], missing: list[str]) -> None:
        super().__init__(f"Missing required scopes: {', '.join(missing)}")
        self.required = sorted(required)
        self.granted = sorted(granted)


class ScopeNotDeclared(PermissionDenied):
    default_detail = "This operation is not available to API keys."


def required_scopes(view: APIView) -> list[str] | None:
    """The scopes an operation needs: a view's explicit `required_scopes`, or its
    `scope_resource` with the action's scope action. None when the view declares nothing."""
    explicit = getattr(view, "required_scopes", None)
    if explicit is not None:
        return list(explicit)
    resource = getattr(view, "scope_resource", None)
    action = getattr(view, "scope_action", None) or VIEWSET_SCOPE_ACTIONS.get(
        getattr(view, "action", None) or ""
    )
    if resource is None or action is None:
        return None
    if action not in RESOURCES.get(resource, ()):
        raise ValueError(f"{type(view).__name__}: {resource}:{action} is not a registered scope")
    return [scope(resource, action)]


class HasScope(BasePermission):
    """Deny by default: an authenticated key passes only with every scope the view declares."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            raise NotAuthenticated(KEY_REQUIRED)
        if request.method.lower() not in (m.lower() for m in view.allowed_methods):
            return True  # the view answers 405
        required = required_scopes(view)
        if required is None:
            raise ScopeNotDeclared()
        missing = missing_scopes(key.scopes, required)
        if missing:
            raise MissingScopes(required, key.scopes, missing)
        key.record_usage(required, timedelta(seconds=settings.API_KEY_USAGE_WRITE_INTERVAL))
        return True
