from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the services, never edited or deleted by hand."""

    list_display = ["occurred_at", "action", "object_type", "object_id", "actor_type", "actor",
                    "workspace"]  # fmt: skip
    list_filter = ["action", "actor_type", "workspace"]
    search_fields = ["actor", "object_id"]
    search_help_text = "An actor (key prefix or username) or an object id."
    list_select_related = ["workspace"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
