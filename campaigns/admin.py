"""The campaign admin keeps the API's rules: a campaign stays in its workspace and uses only that
workspace's sender accounts, and deletes and edits respect the state machine."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from audit.services import Actor
from campaigns import transitions
from campaigns.models import Campaign, CampaignStep, default_schedule
from campaigns.serializers import ScheduleSerializer, known_timezones
from coldsend.admin import DeleteThroughServiceMixin, RefusalAnswerMixin
from coldsend.core.errors import Conflict
from delivery import actions
from delivery.api_selectors import campaign_progress
from sender_accounts.models import SenderAccount

WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]
SCHEDULE_PARTS = ["timezone", "days", "start_time", "end_time"]
SCHEDULE_LABELS = {
    "timezone": "Time zone",
    "days": "Days",
    "start_time": "From",
    "end_time": "Until",
}


class ScheduleWidget(forms.MultiWidget):
    template_name = "admin/campaigns/schedule_widget.html"

    def __init__(self) -> None:
        super().__init__(
            {
                "timezone": forms.Select(),
                "days": forms.CheckboxSelectMultiple(),
                "start_time": forms.TextInput(attrs={"type": "time", "size": 5}),
                "end_time": forms.TextInput(attrs={"type": "time", "size": 5}),
            }
        )

    def decompress(self, value: dict | None) -> list:
        return [(value or {}).get(part) for part in SCHEDULE_PARTS]


class ScheduleField(forms.MultiValueField):
    """The campaign's schedule as four inputs, judged by the API's own ScheduleSerializer."""

    widget = ScheduleWidget

    def __init__(self, **kwargs: Any) -> None:
        zones = [(zone, zone) for zone in sorted(known_timezones())]
        # Not required one by one: the serializer names what is missing.
        fields = (
            forms.ChoiceField(choices=zones, required=False),
            forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, required=False),
            forms.CharField(required=False),
            forms.CharField(required=False),
        )
        super().__init__(fields, require_all_fields=False, **kwargs)
        self.widget.widgets[0].choices = zones
        self.widget.widgets[1].choices = WEEKDAYS

    def compress(self, data_list: list) -> dict:
        return dict(zip(SCHEDULE_PARTS, data_list or [None] * 4, strict=True))

    def clean(self, value: Any) -> dict:
        schedule = super().clean(value)
        serializer = ScheduleSerializer(data={k: v for k, v in schedule.items() if v is not None})
        if not serializer.is_valid():
            raise forms.ValidationError(
                [
                    f"{SCHEDULE_LABELS.get(part, part)}: {message}"
                    for part, messages_ in serializer.errors.items()
                    for message in _flat(messages_)
                ]
            )
        return dict(serializer.validated_data)


def _flat(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [m for nested in errors.values() for m in _flat(nested)]
    if isinstance(errors, list):
        return [m for nested in errors for m in _flat(nested)]
    return [str(errors)]


class CampaignAdminForm(forms.ModelForm):
    """Offers only the campaign's workspace's sender accounts (on add, where the workspace is
    not chosen yet, every account labelled with its workspace) and refuses any other."""

    schedule = ScheduleField(initial=default_schedule)

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


# What the admin form edits besides the steps and sender accounts (the rest goes through the API).
ADMIN_SETTINGS = ["name", "daily_limit", "schedule", "stop_on_reply"]


def _steps(formsets: Any) -> list[dict[str, Any]]:
    """The steps inline as the action takes them: by position, without the deleted rows."""
    rows = [
        inline.cleaned_data
        for formset in formsets
        if formset.model is CampaignStep
        for inline in formset.forms
        if inline.cleaned_data and not inline.cleaned_data.get("DELETE")
    ]
    rows.sort(key=lambda row: row.get("position") or 0)
    return [
        {"subject": row["subject"], "body": row["body"], "delay_days": row["delay_days"]}
        for row in rows
    ]


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    extra = 0
    ordering = ["position"]
    # Sized to fit the row: the admin's default text widths overflow a 1280 px window.
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"size": 30})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 50})},
    }


@admin.register(Campaign)
class CampaignAdmin(RefusalAnswerMixin, DeleteThroughServiceMixin, admin.ModelAdmin):
    form = CampaignAdminForm
    delete_service = actions.do_delete_campaign
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

    refusals = (Conflict,)  # raised in the admin's transaction: the edit is undone

    def answer_refusal(self, request: HttpRequest, refusal: Exception) -> HttpResponse:
        messages.error(request, getattr(refusal, "detail", str(refusal)))
        return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        """Nothing is written here: save_related hands the form and its steps to the same action
        the API calls (do_create_campaign / do_update_campaign), once the inlines are valid."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in ADMIN_SETTINGS}
        data["sender_account_ids"] = [
            account.pk for account in form.cleaned_data["sender_accounts"]
        ]
        data["steps"] = _steps(formsets)
        actor = Actor.for_user(request.user)
        campaign = form.instance
        if change:
            saved = actions.do_update_campaign(campaign, data, actor=actor)
        else:
            saved = actions.do_create_campaign(form.cleaned_data["workspace"], data, actor=actor)
            campaign.pk, campaign._state.adding = saved.pk, False
        campaign.status = saved.status
        for formset in formsets:  # what the admin's history message reads; the action saved them
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_refusals(self, campaign: Campaign) -> list[str]:
        allowed = transitions.allowed_states("delete")
        if campaign.status in allowed:
            return []
        only = " or ".join(allowed)
        return [f"{campaign}: is {campaign.status}: only {only} campaigns can be deleted"]
