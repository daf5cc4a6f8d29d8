"""The campaign admin keeps the API's rules: a campaign stays in its workspace and uses only that
workspace's sender accounts, and deletes and edits respect the state machine."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from campaigns import services, transitions
from campaigns.models import Campaign, CampaignStep
from coldsend.api.exceptions import Conflict
from delivery.api_selectors import campaign_progress
from sender_accounts.models import SenderAccount


class SequenceLocked(Exception):
    """Steps or sender accounts edited while the campaign sends. Raised inside the admin's
    transaction, so the whole edit is rolled back."""


class CampaignAdminForm(forms.ModelForm):
    """Offers only the campaign's workspace's sender accounts (on add, where the workspace is
    not chosen yet, every account labelled with its workspace) and refuses any other."""

    class Meta:
        model = Campaign
        fields = [
            "workspace",
            "name",
            "sender_accounts",
            "daily_limit",
            "schedule",
            "stop_on_reply",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("sender_accounts")
        if field is None:
            return
        accounts = SenderAccount.objects.defer("smtp_password")
        if self.instance._state.adding:
            field.queryset = accounts.select_related("workspace")
            field.label_from_instance = lambda account: f"{account} — {account.workspace}"
        else:
            field.queryset = accounts.filter(workspace_id=self.instance.workspace_id)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance._state.adding:
            workspace = cleaned.get("workspace")
            workspace_id = workspace.pk if workspace else None
        else:
            workspace_id = self.instance.workspace_id
        foreign = [
            str(account)
            for account in cleaned.get("sender_accounts") or []
            if workspace_id is not None and account.workspace_id != workspace_id
        ]
        if foreign:
            self.add_error(
                "sender_accounts",
                f"Not in the campaign's workspace: {', '.join(foreign)}.",
            )
        return cleaned


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    extra = 0
    ordering = ["position"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "workspace", "status", "daily_limit", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name"]
    fields = [
        "workspace", "name", "status", "paused_reason", "progress", "sender_accounts",
        "daily_limit", "schedule", "stop_on_reply", "include_unsubscribe_link", "tracking",
        "max_bounce_rate", "created_at", "updated_at",
    ]  # fmt: skip
    # Status moves only through campaigns.transitions, never by editing the row; the sending
    # settings are changed through the API, which validates them.
    readonly_fields = [
        "status", "paused_reason", "progress", "include_unsubscribe_link", "tracking",
        "max_bounce_rate", "created_at", "updated_at",
    ]  # fmt: skip
    filter_horizontal = ["sender_accounts"]
    inlines = [CampaignStepInline]
    list_select_related = ["workspace"]

    @admin.display(description="Progress")
    def progress(self, campaign: Campaign) -> str:
        """Leads by status, how many have a send scheduled, and the next sends."""
        if campaign.pk is None:
            return "-"
        progress = campaign_progress(campaign)
        counts = format_html_join(
            ", ", "{}: {}", ((status, n) for status, n in progress["by_status"].items())
        )
        next_sends = format_html_join(
            "",
            "<li>{} — step {} at {}</li>",
            (
                (email, step + 1, when.strftime("%Y-%m-%d %H:%M:%S UTC"))
                for email, step, when in progress["next"]
            ),
        )
        return format_html(
            "<p>Leads by status: {}</p><p>Scheduled: {} · being sent now: {}</p>"
            "<p>Next sends:</p><ul>{}</ul>",
            counts,
            progress["scheduled"],
            progress["in_flight"],
            next_sends or format_html("<li>{}</li>", "none"),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        # Leads carry their campaign's workspace; moving the campaign would leave them behind.
        return [*self.readonly_fields, "workspace"]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SequenceLocked as refused:
            messages.error(request, str(refused))
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if change:
            # Locked until the admin's transaction ends, so the status save_related checks is
            # the one activate and pause see, and the row is saved with that status.
            obj.status = transitions.locked(obj).status
            obj._sequence_before = services.sequence_of(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        campaign = form.instance
        before = getattr(campaign, "_sequence_before", None)
        if (
            before is not None
            and campaign.status not in services.SEQUENCE_EDITABLE
            and services.sequence_of(campaign) != before
        ):
            raise SequenceLocked(
                "Steps and sender accounts change only while a campaign is DRAFT or PAUSED; "
                f"this one is {campaign.status}: pause it first."
            )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Show campaigns the state machine keeps as protected, so the admin refuses up front."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        allowed = transitions.allowed_states("delete")
        for campaign in objs:
            if campaign.status not in allowed:
                protected.append(
                    f"{campaign}: is {campaign.status}: only {' or '.join(allowed)} campaigns "
                    "can be deleted"
                )
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        try:
            transitions.delete(obj)
        except Conflict as conflict:  # an activation won the race after the confirmation page
            messages.error(request, f"{obj}: {conflict.detail}")
        except Http404:
            pass  # already deleted by someone else

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            self.delete_model(request, campaign)
