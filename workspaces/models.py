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


class Slot(models.Model):
    """One of a workspace's places for a slow call to someone else's server on a request's
    behalf (a connection check, a test send): a request holds one while it waits, so at most
    `limit` of them run at once per workspace, across processes (workspaces/slots.py)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    number = models.PositiveSmallIntegerField()
    # Held until then (a holder that died frees its slot when this passes).
    held_until = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "number"], name="slot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.kind} #{self.number}"
