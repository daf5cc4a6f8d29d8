from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins

from coldsend.api.viewsets import WorkspaceScopedViewSet
from events.filters import EventFilter
from events.models import Event
from events.serializers import EventSerializer, event_schema


@extend_schema_view(
    list=extend_schema(
        summary="List events, newest first",
        description="The workspace's event log (kept EVENTS_RETENTION_DAYS, default 30, also "
        "after the objects the events name are deleted), newest first, cursor-paginated. Each "
        "item is the event exactly as a webhook delivery's body carries it. Filters combine "
        "(all must match); `type` may be repeated (any of them).",
        responses=event_schema(many=True),
    ),
    retrieve=extend_schema(
        summary="Retrieve an event",
        description="One event of the workspace, as `GET events` lists it and a webhook "
        "delivery carries it.",
        responses=event_schema(),
    ),
)
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """The event log of API.md §10, read-only. Every query goes through
    Event.objects.for_workspace (WorkspaceScopedViewSet), so another workspace's event is a 404
    and never listed."""

    scope_resource = "events"
    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_class = EventFilter
