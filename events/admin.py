"""The event log (API.md §10) in the admin, read-only: browsable by type and workspace,
searchable by campaign or lead id, each event's data shown as indented JSON."""

import json
import uuid

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html

from events.models import Event
from events.types import EVENT_TYPES
from workspaces.models import Workspace


class TypeFilter(admin.SimpleListFilter):
    """Every known type, whether or not one is stored yet (no scan of the table for them)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(name, name) for name in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(type=self.value()) if self.value() else queryset


class WorkspaceFilter(admin.SimpleListFilter):
    """`workspace_id` is no foreign key (an event outlives what it names): the workspaces by
    slug."""

    title = "workspace"
    parameter_name = "workspace_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(str(pk), slug) for pk, slug in Workspace.objects.values_list("pk", "slug")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        if not value:
            return queryset
        try:
            return queryset.filter(workspace_id=uuid.UUID(value))
        except ValueError:
            return queryset.none()


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["type", "workspace", "created_at", "campaign_id", "lead_id"]
    list_filter = [TypeFilter, WorkspaceFilter]
    search_fields = ["=campaign_id", "=lead_id", "=id"]
    search_help_text = "An event, campaign or lead id (the whole UUID)."
    date_hierarchy = "created_at"
    ordering = ["-id"]
    show_full_result_count = False  # no COUNT(*) over the whole log for every page
    fields = [
        "id",
        "type",
        "workspace",
        "created_at",
        "campaign_id",
        "lead_id",
        "dispatched",
        "pretty_data",
    ]
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Event], search_term: str
    ) -> tuple[QuerySet[Event], bool]:
        """An exact id only: anything that is no UUID finds nothing (rather than a 500 or a
        scan of the JSON)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            return queryset.none(), False
        found = queryset.filter(campaign_id=value) | queryset.filter(lead_id=value)
        return found | queryset.filter(pk=value), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        slug = Workspace.objects.filter(pk=OuterRef("workspace_id")).values("slug")[:1]
        return super().get_queryset(request).annotate(workspace_slug=Subquery(slug))

    @admin.display(description="workspace")
    def workspace(self, event: Event) -> str:
        return getattr(event, "workspace_slug", None) or f"{event.workspace_id} (deleted)"

    @admin.display(description="data")
    def pretty_data(self, event: Event) -> str:
        text = json.dumps(event.data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        return format_html('<pre class="event-data">{}</pre>', text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
