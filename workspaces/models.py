"""The ground every tenant model stands on: the Workspace, and `for_workspace`, the one query
that scopes a tenant model's rows to one workspace."""

import uuid
from typing import Self

from django.core.exceptions import ValidationError
from django.db import models


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "apikeys_workspace"  # kept from when apikeys held it
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @classmethod
    def validate_slug(cls, slug: str) -> None:
        """ValidationError unless `slug` is what the admin's slug field accepts."""
        cls._meta.get_field("slug").run_validators(slug)
        if not slug:
            raise ValidationError("A workspace slug is required.")


class WorkspaceQuerySet(models.QuerySet):
    """The queryset of every tenant model (one with a `workspace`): `for_workspace` is the one
    place a query is scoped to a workspace."""

    def for_workspace(self, workspace: Workspace | uuid.UUID) -> Self:
        """The rows of `workspace` (a Workspace or its id) only."""
        return self.filter(workspace_id=getattr(workspace, "pk", workspace))
