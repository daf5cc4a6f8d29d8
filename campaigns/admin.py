"""The campaign admin keeps the API's rules: a campaign stays in its workspace and uses only that
workspace's sender accounts, and deletes and edits respect the state machine."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from campaigns import transitions
from campaigns.models import Campaign, CampaignStep
from coldsend.admin import DeleteThroughServiceMixin
from coldsend.errors import Invalid
from sender_accounts.models import SenderAccount


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
            field.queryset = accounts.for_workspace(self.instance.workspace_id)

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
class CampaignAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    form = CampaignAdminForm
    delete_service = transitions.delete
    list_display = ["name", "workspace", "status", "daily_limit", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name"]
    fields = [
        "workspace", "name", "status", "sender_accounts", "daily_limit", "schedule",
        "stop_on_reply", "created_at", "updated_at",
    ]  # fmt: skip
    # Status moves only through campaigns.transitions, never by editing the row.
    readonly_fields = ["status", "created_at", "updated_at"]
    filter_horizontal = ["sender_accounts"]
    inlines = [CampaignStepInline]
    list_select_related = ["workspace"]

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
        except Invalid as refused:  # raised inside the admin's transaction: the edit is undone
            messages.error(request, refused.detail)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if change:
            # Locked until the admin's transaction ends, so the status save_related checks is
            # the one activate and pause see, and the row is saved with that status.
            obj.status = transitions.locked(obj).status
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        transitions.check_still_ready(form.instance)

    def delete_refusals(self, campaign: Campaign) -> list[str]:
        allowed = transitions.allowed_states("delete")
        if campaign.status in allowed:
            return []
        only = " or ".join(allowed)
        return [f"{campaign}: is {campaign.status}: only {only} campaigns can be deleted"]
