from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join

from apikeys.models import APIKey, Workspace
from apikeys.scopes import KNOWN_SCOPES, parse_scopes
from apikeys.services import issue_api_key, revoke_api_key
from audit.services import Actor


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in KNOWN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="RESOURCE:all grants every action of that resource; * grants everything.",
    )

    class Meta:
        model = APIKey
        fields = ["name", "workspace", "scopes", "expires_at"]

    def clean_scopes(self) -> list[str]:
        return parse_scopes(self.cleaned_data["scopes"])


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    list_display = ["name", "workspace", "prefix", "scope_list", "last_used_at", "active"]
    list_filter = ["workspace", "revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "workspace__slug"]
    actions = ["revoke_keys"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at", "scope_audit"]

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "workspace", "scopes", "expires_at"]
        return [
            "name", "workspace", "prefix", "scopes", "scope_audit",
            "expires_at", "created_at", "last_used_at", "revoked_at",
        ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        if obj is None:
            return []
        return [*self.readonly_fields, "workspace"]

    @admin.display(description="scopes")
    def scope_list(self, key: APIKey) -> str:
        return ", ".join(key.scopes)

    @admin.display(boolean=True)
    def active(self, key: APIKey) -> bool:
        return key.is_active

    @admin.display(description="granted vs. used scopes")
    def scope_audit(self, key: APIKey) -> str:
        used = set(key.used_scopes)
        rows = [(s, "used" if s in used else "never used") for s in key.scopes]
        rows += [(s, "used (via a broader grant)") for s in sorted(used - set(key.scopes))]
        return format_html_join("", "<div><code>{}</code>: {}</div>", rows) or "—"

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Only on the request: response_add renders it once. A message would carry it in the
        # messages cookie (signed, not encrypted) or the session table.
        request._new_api_key = issue_api_key(obj, actor=Actor.for_user(request.user))

    def response_add(
        self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new key's raw secret, shown once, in this response's body only."""
        raw = getattr(request, "_new_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        opts, site = self.opts, self.admin_site.name
        request.current_app = site
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": opts,
            "key": obj,
            "raw_key": raw,
            "change_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[quote(obj.pk)],
                current_app=site,
            ),
            "changelist_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=site
            ),
        }
        return TemplateResponse(request, "admin/apikeys/apikey/key_created.html", context)

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        actor = Actor.for_user(request.user)
        count = sum(
            revoke_api_key(key, actor=actor) for key in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
