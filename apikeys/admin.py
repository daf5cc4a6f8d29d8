import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from apikeys.models import APIKey
from apikeys.scopes import ALL_ACTION, KNOWN_SCOPES, all_scope_note, parse_scopes
from apikeys.services import issue_api_key, revoke_api_key
from audit.services import Actor
from coldsend.admin import RefusalAnswerMixin, redirect_to_show_once, take_shown_once

# How long a submitted add form's token is remembered (the created page shows the key for
# coldsend.admin.SHOW_ONCE_SECONDS).
FORM_TOKEN_SECONDS = 24 * 3600
LIST_SCOPES_SHOWN = 2
DAMAGED_FORM = "This form is damaged: reload the page."


def scope_label(name: str) -> str:
    """A scope checkbox's label: RESOURCE:all says which of its actions came later."""
    resource, _, action = name.partition(":")
    note = all_scope_note(resource) if action == ALL_ACTION else ""
    return f"{name} — {note}" if note else name


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, scope_label(s)) for s in KNOWN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="RESOURCE:all grants every action of that resource, including actions added "
        "later; * grants everything.",
    )
    # One per rendered add form: submitting the same form again creates no second key.
    form_token = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}\Z",
        widget=forms.HiddenInput,
        required=False,
        error_messages={"invalid": DAMAGED_FORM, "required": DAMAGED_FORM},
    )

    class Meta:
        model = APIKey
        fields = ["name", "workspace", "scopes", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            self.fields["form_token"].required = True
            self.fields["form_token"].initial = secrets.token_urlsafe(24)

    def clean_scopes(self) -> list[str]:
        return parse_scopes(self.cleaned_data["scopes"])


class FormAlreadySubmitted(Exception):
    """Raised inside the admin's transaction: nothing of the repeated submission is saved."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


def claim_form_token(token: str, key_id: str) -> str | None:
    """Bind an add form's token to the key it creates; the key it already created, if any."""
    cache_key = f"admin:apikey-form:{token}"
    if cache.add(cache_key, key_id, timeout=FORM_TOKEN_SECONDS):
        return None
    return cache.get(cache_key) or key_id


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(APIKey)
class APIKeyAdmin(RefusalAnswerMixin, admin.ModelAdmin):
    form = APIKeyForm
    # Narrow columns so the list fits a 1280 px window; the change page shows everything.
    list_display = ["name", "active", "workspace", "prefix", "scope_list", "last_used"]
    list_filter = [RevokedFilter, "workspace", "expires_at"]
    list_select_related = ["workspace"]
    search_fields = ["name", "prefix", "workspace__slug"]
    actions = ["revoke_keys"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at", "scope_audit"]

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "workspace", "scopes", "expires_at", "form_token"]
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
        shown = ", ".join(key.scopes[:LIST_SCOPES_SHOWN])
        more = len(key.scopes) - LIST_SCOPES_SHOWN
        return f"{shown} +{more} more" if more > 0 else shown

    @admin.display(boolean=True)
    def active(self, key: APIKey) -> bool:
        return key.is_active

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, key: APIKey) -> str:
        return f"{key.last_used_at:%Y-%m-%d}" if key.last_used_at else "never"

    @admin.display(description="granted vs. used scopes")
    def scope_audit(self, key: APIKey) -> str:
        used = set(key.used_scopes)
        rows = [(s, "used" if s in used else "never used") for s in key.scopes]
        rows += [(s, "used (via a broader grant)") for s in sorted(used - set(key.scopes))]
        return format_html_join("", "<div><code>{}</code>: {}</div>", rows) or "—"

    def get_urls(self) -> list:
        created = path(
            "<path:object_id>/created/",
            self.admin_site.admin_view(self.created_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_created",
        )
        return [created, *super().get_urls()]

    refusals = (FormAlreadySubmitted,)

    def answer_refusal(self, request: HttpRequest, refusal: Exception) -> HttpResponse:
        return HttpResponseRedirect(self.created_url(refusal.key_id))

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        earlier = claim_form_token(form.cleaned_data["form_token"], str(obj.pk))
        if earlier is not None:
            raise FormAlreadySubmitted(earlier)
        request._new_api_key = issue_api_key(obj, actor=Actor.for_user(request.user))

    def response_add(
        self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Post/redirect/get: the created page shows the raw key once; a reload cannot repost.

        The session keeps the key only encrypted, under a one-time Fernet key that travels in
        the redirect's URL alone: neither the session table nor the URL holds the key, and the
        first GET removes the ciphertext."""
        return redirect_to_show_once(
            request, self.session_key(obj.pk), request._new_api_key, self.created_url(obj.pk)
        )

    def created_url(self, key_id: Any) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_created",
            args=[quote(key_id)],
            current_app=self.admin_site.name,
        )

    @staticmethod
    def session_key(key_id: Any) -> str:
        return f"apikeys:created:{key_id}"

    def created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The raw key on its first view only; afterwards (a reload), that it was shown."""
        key = self.get_object(request, object_id)
        if key is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, key):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.admin_site.name))
        raw = take_shown_once(request, self.session_key(key.pk))
        opts, site = self.opts, self.admin_site.name
        request.current_app = site
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created" if raw else "API key already shown",
            "opts": opts,
            "key": key,
            "raw_key": raw,
            "change_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[quote(key.pk)],
                current_app=site,
            ),
            "changelist_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=site
            ),
            "add_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_add", current_app=site),
        }
        return TemplateResponse(request, "admin/apikeys/apikey/key_created.html", context)

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        actor = Actor.for_user(request.user)
        count = sum(
            revoke_api_key(key, actor=actor) for key in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
