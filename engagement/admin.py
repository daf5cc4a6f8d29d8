"""The workspace suppression lists in the admin (API.md §9): read-only, with filters, each with
its reason (unsubscribed, bounced) and source (the link, an SMTP refusal, a bounce report).
Deleting a row lifts the suppression (e.g. an address bounced by mistake); nothing is added or
edited by hand: unsubscribes and bounces write them."""

from django.contrib import admin
from django.http import HttpRequest

from coldsend.admin import DeleteThroughServiceMixin
from delivery.actions import do_lift_suppression
from engagement.models import Suppression


@admin.register(Suppression)
class SuppressionAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    delete_service = do_lift_suppression
    list_display = ["email", "reason", "source", "workspace", "created_at"]
    list_filter = ["reason", "source", "workspace", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["email"]
    ordering = ["-created_at"]
    fields = ["workspace", "email", "reason", "source", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False
