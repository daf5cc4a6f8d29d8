"""The event log of API.md §10: one row per change, written in the change's own transaction.
Ground every app may stand on: ids only, no foreign keys, so an event outlives what it names."""

from typing import Self

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from coldsend.core.ids import uuid7


class EventQuerySet(models.QuerySet):
    def for_workspace(self, workspace: object) -> Self:
        """The events of `workspace` (a Workspace or its id) only."""
        return self.filter(workspace_id=getattr(workspace, "pk", workspace))


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace_id = models.UUIDField()
    type = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    campaign_id = models.UUIDField(null=True, blank=True)
    lead_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    # False until the webhooks' dispatcher has made its deliveries (the outbox).
    dispatched = models.BooleanField(default=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["workspace_id", "-id"], name="event_workspace_newest"),
            models.Index(fields=["campaign_id", "-id"], name="event_campaign_newest"),
            models.Index(fields=["lead_id", "-id"], name="event_lead_newest"),
            models.Index(fields=["created_at"], name="event_created"),
            models.Index(
                fields=["id"], name="event_undispatched", condition=models.Q(dispatched=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"
