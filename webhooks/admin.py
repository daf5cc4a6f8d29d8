"""The webhooks in the admin (API.md §10): endpoints created, changed and deleted through the
API's own actions (their rules, locks and audit rows); the signing secret shown once, on the page
after creation, like an API key, and never again; a "Send test event" button; each endpoint's
recent attempts; and the deliveries, read-only."""

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_variables

from audit.services import Actor
from campaigns.models import Campaign
from coldsend.admin import (
    ButtonViewMixin,
    DeleteThroughServiceMixin,
    RefusalAnswerMixin,
    redirect_to_show_once,
    take_shown_once,
)
from coldsend.core.errors import Conflict, Invalid
from events.types import CAMPAIGN_TYPES, SUBSCRIBABLE
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    do_create_webhook,
    do_delete_webhook,
    do_test_webhook,
    do_update_webhook,
    url_problems,
)

EVERY_TYPE = "*"
# How long a submitted add form's token is remembered (the created page shows the secret for
# coldsend.admin.SHOW_ONCE_SECONDS).
FORM_TOKEN_SECONDS = 24 * 3600
DAMAGED_FORM = "This form is damaged: reload the page."
LIST_TYPES_SHOWN = 2
RECENT_ATTEMPTS = 20
BODY_SHOWN = 200  # characters of a response body in the attempts table (the API keeps 1 KB)


class WebhookEndpointForm(forms.ModelForm):
    """The API's rules for a webhook: the URL judged by `url_problems`, event types from the
    registry or every one, and a campaign of the endpoint's own workspace. The secret is no
    field: the action makes it."""

    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        help_text="Where events are POSTed: https (http only where private hosts are allowed, "
        "in development), no username or password, a host with public addresses only.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(EVERY_TYPE, "* — every type, including types added later")]
        + [(t, t) for t in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events POSTed to this endpoint. webhook.test goes only to the endpoint "
        "it tests (the “Send test event” button).",
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(),
        required=False,
        help_text="Only this campaign's events (message.*, lead.*, campaign.*); empty for the "
        "whole workspace. Deleting the campaign disables the endpoint.",
    )
    form_token = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}\Z",
        widget=forms.HiddenInput,
        required=False,
        error_messages={"invalid": DAMAGED_FORM, "required": DAMAGED_FORM},
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["workspace", "url", "event_types", "description", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adding = self.instance._state.adding
        if self.adding:
            self.fields["form_token"].required = True
            self.fields["form_token"].initial = secrets.token_urlsafe(24)
            campaigns = Campaign.objects.select_related("workspace").order_by("workspace", "name")
            self.fields["campaign"].label_from_instance = lambda c: f"{c} — {c.workspace}"
        else:
            campaigns = Campaign.objects.for_workspace(self.instance.workspace_id).order_by("name")
            if self.instance.campaign_id is not None:
                self.initial["campaign"] = self.instance.campaign_id
        self.fields["campaign"].queryset = campaigns

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problems = url_problems(url)
        if problems:
            raise forms.ValidationError(problems)
        return url

    def clean_event_types(self) -> list[str]:
        chosen = list(self.cleaned_data["event_types"])
        return [EVERY_TYPE] if EVERY_TYPE in chosen else chosen

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        workspace_id = (
            getattr(cleaned.get("workspace"), "pk", None)
            if self.adding
            else self.instance.workspace_id
        )
        campaign = cleaned.get("campaign")
        if campaign is not None and workspace_id is not None:
            if campaign.workspace_id != workspace_id:
                self.add_error("campaign", "Not a campaign of the endpoint's workspace.")
            types = cleaned.get("event_types") or []
            outside = sorted(t for t in types if t != EVERY_TYPE and t not in CAMPAIGN_TYPES)
            if outside:
                self.add_error(
                    "event_types", f"An endpoint of one campaign gets no {', '.join(outside)}."
                )
        return cleaned

    def endpoint_data(self) -> dict[str, Any]:
        """What a valid add form creates, for do_create_webhook."""
        campaign = self.cleaned_data.get("campaign")
        return {
            "url": self.cleaned_data["url"],
            "event_types": self.cleaned_data["event_types"],
            "campaign_id": campaign.pk if campaign else None,
            "description": self.cleaned_data.get("description", ""),
        }

    def endpoint_changes(self) -> dict[str, Any]:
        """What a valid change form changes, for do_update_webhook."""
        data = self.endpoint_data()
        data["enabled"] = self.cleaned_data["enabled"]
        names = {"campaign_id" if n == "campaign" else n for n in self.changed_data}
        return {name: value for name, value in data.items() if name in names}


class FormAlreadySubmitted(Exception):
    """Raised inside the admin's transaction: nothing of the repeated submission is saved."""

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(endpoint_id)
        self.endpoint_id = endpoint_id


def claim_form_token(token: str, endpoint_id: str) -> str | None:
    """Bind an add form's token to the endpoint it creates; the one it already created, if any."""
    cache_key = f"admin:webhook-form:{token}"
    if cache.add(cache_key, endpoint_id, timeout=FORM_TOKEN_SECONDS):
        return None
    return cache.get(cache_key) or endpoint_id


def _attempt_rows(attempts: list[WebhookAttempt]) -> str:
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td>"
        "<td><code>{}</code></td><td>{}</td></tr>",
        (
            (
                f"{a.attempted_at:%Y-%m-%d %H:%M:%S}",
                a.event_type,
                a.attempt,
                a.status_code if a.status_code is not None else "—",
                a.error or "—",
                a.duration_ms,
                (a.response_body or "")[:BODY_SHOWN] or "—",
                f"{a.next_attempt_at:%Y-%m-%d %H:%M:%S}" if a.next_attempt_at else "—",
            )
            for a in attempts
        ),
    )
    return format_html(
        '<table class="webhook-attempts"><thead><tr><th>attempted at</th><th>event type</th>'
        "<th>attempt</th><th>status code</th><th>error</th><th>duration</th>"
        "<th>response body</th><th>next attempt</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(
    ButtonViewMixin, RefusalAnswerMixin, DeleteThroughServiceMixin, admin.ModelAdmin
):
    form = WebhookEndpointForm
    delete_service = do_delete_webhook
    list_display = [
        "url",
        "workspace",
        "event_type_list",
        "campaign_id",
        "enabled",
        "disabled_reason",
        "last_success",
    ]
    list_filter = ["enabled", "disabled_reason", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["url", "description", "workspace__slug"]
    readonly_fields = [
        "disabled_reason",
        "last_success_at",
        "failing_since",
        "created_at",
        "updated_at",
        "recent_attempts",
    ]

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        if obj is None:
            return ["workspace", "url", "event_types", "campaign", "description", "form_token"]
        return [
            "workspace", "url", "event_types", "campaign", "description", "enabled",
            "disabled_reason", "last_success_at", "failing_since", "created_at", "updated_at",
            "recent_attempts",
        ]  # fmt: skip

    def get_readonly_fields(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> list[str]:
        if obj is None:
            return []
        # An endpoint stays in its workspace (its campaign and events are that workspace's).
        return [*self.readonly_fields, "workspace"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        # The secrets are never shown, so never read (nor decrypted) for a page.
        return super().get_queryset(request).defer("secret", "previous_secret")

    @admin.display(description="event types")
    def event_type_list(self, endpoint: WebhookEndpoint) -> str:
        types = list(endpoint.event_types)
        shown = ", ".join(types[:LIST_TYPES_SHOWN])
        more = len(types) - LIST_TYPES_SHOWN
        return f"{shown} +{more} more" if more > 0 else shown

    @admin.display(description="last success", ordering="last_success_at")
    def last_success(self, endpoint: WebhookEndpoint) -> str:
        return f"{endpoint.last_success_at:%Y-%m-%d %H:%M}" if endpoint.last_success_at else "never"

    @admin.display(description="recent attempts")
    def recent_attempts(self, endpoint: WebhookEndpoint) -> str:
        attempts = list(
            WebhookAttempt.objects.filter(endpoint_id=endpoint.pk).order_by("-id")[:RECENT_ATTEMPTS]
        )
        if not attempts:
            return "None yet."
        return _attempt_rows(attempts)

    # Creating and changing: the API's actions.

    refusals = (FormAlreadySubmitted, Conflict, Invalid)

    def answer_refusal(self, request: HttpRequest, refusal: Exception) -> HttpResponse:
        if isinstance(refusal, FormAlreadySubmitted):
            return HttpResponseRedirect(self.created_url(refusal.endpoint_id))
        detail = getattr(refusal, "detail", refusal)
        if isinstance(detail, dict):
            detail = " ".join(str(m) for ms in detail.values() for m in ms)
        messages.error(request, f"Nothing was saved: {detail}")
        return HttpResponseRedirect(request.get_full_path())

    @method_decorator(sensitive_variables("secret"))
    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: WebhookEndpointForm, change: bool
    ) -> None:
        actor = Actor.for_user(request.user)
        if change:
            changes = form.endpoint_changes()
            if changes:
                do_update_webhook(obj, changes, actor=actor)
            return
        earlier = claim_form_token(form.cleaned_data["form_token"], str(obj.pk))
        if earlier is not None:
            raise FormAlreadySubmitted(earlier)
        token_key = f"admin:webhook-form:{form.cleaned_data['form_token']}"
        try:
            endpoint, secret = do_create_webhook(obj.workspace, form.endpoint_data(), actor=actor)
        except (Conflict, Invalid):
            cache.delete(token_key)  # refused: the same form may be sent again
            raise
        # The token was bound to the form's own id: bind it to the endpoint made.
        cache.set(token_key, str(endpoint.pk), timeout=FORM_TOKEN_SECONDS)
        obj.pk = endpoint.pk
        obj._state.adding = False
        request._new_webhook_secret = secret

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related is edited here."""

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Post/redirect/get, as for API keys: the session keeps the secret only encrypted,
        under a one-time key that travels in the redirect's URL alone, and the first GET of the
        created page removes it."""
        return redirect_to_show_once(
            request,
            self.session_key(obj.pk),
            request._new_webhook_secret,
            self.created_url(obj.pk),
        )

    @staticmethod
    def session_key(endpoint_id: Any) -> str:
        return f"webhooks:created:{endpoint_id}"

    def _url(self, view: str, *args: Any) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{view}",
            args=[quote(a) for a in args],
            current_app=self.admin_site.name,
        )

    def created_url(self, endpoint_id: Any) -> str:
        return self._url("created", endpoint_id)

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/created/",
                self.admin_site.admin_view(self.created_view),
                name=f"{name}_created",
            ),
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name=f"{name}_test",
            ),
            *super().get_urls(),
        ]

    def created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The secret on its first view only; afterwards (a reload), that it was shown."""
        endpoint = self.get_object(request, unquote(object_id))
        if endpoint is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, endpoint):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.admin_site.name))
        secret = take_shown_once(request, self.session_key(endpoint.pk))
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook endpoint created" if secret else "Webhook secret already shown",
            "opts": self.opts,
            "endpoint": endpoint,
            "secret": secret,
            "change_url": self._url("change", endpoint.pk),
            "changelist_url": self._url("changelist"),
            "add_url": self._url("add"),
        }
        return TemplateResponse(
            request, "admin/webhooks/webhookendpoint/secret_created.html", context
        )

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: the API's `webhooks/{id}/test` (a `webhook.test` event, now, never
        retried); its status code or error and duration show as a message."""
        endpoint = self.posted_object(request, object_id)
        if isinstance(endpoint, HttpResponse):
            return endpoint
        try:
            result = do_test_webhook(endpoint, actor=Actor.for_user(request.user))
        except WebhookEndpoint.DoesNotExist:
            messages.error(request, f"{endpoint}: deleted meanwhile.")
            return HttpResponseRedirect(self._url("changelist"))
        if result.status_code is not None and 200 <= result.status_code < 300:
            messages.success(
                request,
                f"Test event delivered: status code {result.status_code} in "
                f"{result.duration_ms} ms.",
            )
        elif result.status_code is not None:
            messages.error(
                request,
                f"Test event refused: status code {result.status_code} in {result.duration_ms} ms.",
            )
        else:
            messages.error(
                request, f"Test event not delivered: {result.error} ({result.duration_ms} ms)."
            )
        return HttpResponseRedirect(self._url("change", endpoint.pk))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), "test_url": self._url("test", unquote(object_id))}
        return super().change_view(request, object_id, form_url, context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """The action deletes an endpoint's deliveries and attempt log with it (they have no
        delete of their own here): they are counted, not listed one by one."""
        objs = list(objs)
        ids = [obj.pk for obj in objs]
        deliveries = WebhookDelivery.objects.filter(endpoint_id__in=ids).count()
        attempts = WebhookAttempt.objects.filter(endpoint_id__in=ids).count()
        deleted = [
            format_html('Webhook endpoint: <a href="{}">{}</a>', self._url("change", obj.pk), obj)
            for obj in objs
        ]
        counts = {self.opts.verbose_name_plural: len(objs)}
        if deliveries:
            counts[WebhookDelivery._meta.verbose_name_plural] = deliveries
        if attempts:
            counts[WebhookAttempt._meta.verbose_name_plural] = attempts
        perms_needed = set()
        if not all(self.has_delete_permission(request, obj) for obj in objs):
            perms_needed.add(self.opts.verbose_name)
        protected = [refusal for obj in objs for refusal in self.delete_refusals(obj)]
        return deleted, counts, perms_needed, protected


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browsable only: rows are written by the engine, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", "endpoint__workspace"]
    list_select_related = ["endpoint", "event"]
    search_fields = ["endpoint__url", "=event__id"]
    date_hierarchy = "created_at"
    fields = [
        "endpoint",
        "event_link",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "leased_until",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return (
            super()
            .get_queryset(request)
            .defer("endpoint__secret", "endpoint__previous_secret", "event__data")
        )

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="event")
    def event_link(self, delivery: WebhookDelivery) -> str:
        url = reverse("admin:events_event_change", args=[quote(delivery.event_id)])
        return format_html('<a href="{}">{}</a>', url, delivery.event_id)
