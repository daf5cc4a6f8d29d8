from collections.abc import Callable

from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.serializers import BaseSerializer

from audit.services import Actor
from workspaces.models import Workspace


class WorkspaceScopedViewSet(viewsets.GenericViewSet):
    """Every queryset is filtered by the key's workspace, so another workspace's object is
    a 404 on every method, and new objects are created in the key's workspace.

    Subclasses set `scope_resource` (a resource of apikeys.scopes.RESOURCES) and `queryset`, and
    `create_service`, the action that creates one object from validated data (every write goes
    through a service; reads of computed fields through selectors)."""

    scope_resource: str | None = None
    scope_action: str | None = None
    create_service: Callable[..., Model]  # (workspace, validated data, *, actor)
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    @property
    def workspace(self) -> Workspace:
        return self.request.auth.workspace

    @property
    def actor(self) -> Actor:
        """Who the audit trail names for this request's changes: its API key."""
        return Actor.for_key(self.request.auth)

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().for_workspace(self.workspace)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # List filters (`?status=` …) narrow lists only: never turn a detail request into a 404.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None and self.request.auth is not None:
            context["workspace"] = self.workspace
        return context

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = type(self).create_service(
            self.workspace, serializer.validated_data, actor=self.actor
        )
