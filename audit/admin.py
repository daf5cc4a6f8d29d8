"""The audit trail in the admin: read-only, each row naming its object (“Campaign “Outreach””,
“Lead ann@example.com”, the key's name) and its actor, resolved for a whole page at once (one
query per kind of object), with a link to the object while it exists."""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apikeys.models import APIKey
from audit.models import AuditEvent
from campaigns.models import Campaign
from engagement.models import Suppression
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace

ActorType = AuditEvent.ActorType

# object_type (the model's name, as audit.services.record writes it) → the model, the field that
# names one, and how a row reads.
NAMED: dict[str, tuple[type[models.Model], str, str]] = {
    "campaign": (Campaign, "name", "Campaign “{}”"),
    "lead": (Lead, "email", "Lead {}"),
    "senderaccount": (SenderAccount, "email", "Sender account {}"),
    "apikey": (APIKey, "name", "API key “{}”"),
    "suppression": (Suppression, "email", "Suppression of {}"),
    "workspace": (Workspace, "slug", "Workspace {}"),
}
# What names an object already deleted: the audit row's own record of it.
EXTRA_NAMES = ("name", "email")


def _valid_pks(model: type[models.Model], ids: Iterable[str]) -> list[Any]:
    pks = []
    for value in ids:
        try:
            pks.append(model._meta.pk.to_python(value))
        except ValidationError:
            continue
    return pks


def attach_names(events: Iterable[AuditEvent]) -> None:
    """Set `named` (the object's label, and its admin URL while it exists) and `actor_label` on
    each event: one query per kind of object, and one for the API keys that acted."""
    events = list(events)
    wanted: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.object_type in NAMED:
            wanted[event.object_type].add(event.object_id)
    found: dict[tuple[str, str], str] = {}
    for object_type, ids in wanted.items():
        model, field, _ = NAMED[object_type]
        rows = model._default_manager.filter(pk__in=_valid_pks(model, ids)).values_list("pk", field)
        found.update({(object_type, str(pk)): name for pk, name in rows})
    prefixes = {e.actor for e in events if e.actor_type == ActorType.API_KEY}
    keys = dict(APIKey.objects.filter(prefix__in=prefixes).values_list("prefix", "name"))
    for event in events:
        event.named = _named(event, found)
        event.actor_label = _actor_label(event, keys)


def _named(event: AuditEvent, found: dict[tuple[str, str], str]) -> tuple[str, str | None]:
    if event.object_type not in NAMED:
        return f"{event.object_type} {event.object_id}", None
    model, _, shape = NAMED[event.object_type]
    name = found.get((event.object_type, event.object_id))
    if name is not None:
        opts = model._meta
        try:
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(event.object_id)]
            )
        except NoReverseMatch:
            url = None
        return shape.format(name), url
    extra = event.extra if isinstance(event.extra, dict) else {}
    remembered = next((extra[key] for key in EXTRA_NAMES if extra.get(key)), None)
    if remembered is not None:
        return f"{shape.format(remembered)} (deleted)", None
    return f"{model._meta.verbose_name.capitalize()} {event.object_id} (deleted)", None


def _actor_label(event: AuditEvent, keys: dict[str, str]) -> str:
    if event.actor_type == ActorType.API_KEY:
        name = keys.get(event.actor)
        return f"API key “{name}” ({event.actor}…)" if name else f"API key {event.actor}…"
    if event.actor_type == ActorType.ADMIN_USER:
        return f"admin {event.actor}"
    if event.actor_type == ActorType.COMMAND:
        return f"command {event.actor}"
    return event.actor


class NamedChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        attach_names(self.result_list)  # the page's rows, cached on the queryset the page shows


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the services, never edited or deleted by hand."""

    list_display = ["occurred_at", "action", "object", "by", "workspace"]
    list_filter = ["action", "actor_type", "workspace"]
    search_fields = ["actor", "object_id"]
    search_help_text = "An actor (key prefix or username) or an object id."
    list_select_related = ["workspace"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    fields = [
        "occurred_at", "action", "object", "object_type", "object_id", "by", "actor_type",
        "actor", "workspace", "extra",
    ]  # fmt: skip

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return NamedChangeList

    def _names(self, event: AuditEvent) -> None:
        if not hasattr(event, "named"):  # the change page's one row
            attach_names([event])

    @admin.display(description="object")
    def object(self, event: AuditEvent) -> str:
        self._names(event)
        label, url = event.named
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="by", ordering="actor")
    def by(self, event: AuditEvent) -> str:
        self._names(event)
        return event.actor_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
