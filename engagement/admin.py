"""The workspace suppression lists in the admin (API.md §9): read-only, with filters. Deleting
a row lifts the suppression (e.g. an address bounced by mistake); nothing is added or edited
by hand: unsubscribes and bounces write them."""

from django.contrib import admin
from django.http import HttpRequest

from coldsend.admin import DeleteThroughServiceMixin
from delivery.actions import do_lift_suppression
from engagement.models import Suppression


@admin.register(Suppression)
class SuppressionAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    delete_service = do_lift_suppression
    list_display = ["email", "reason", "workspace", "created_at"]
    list_filter = ["reason", "workspace", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["email"]
    ordering = ["-created_at"]
    readonly_fields = ["workspace", "email", "reason", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False
