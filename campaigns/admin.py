"""The campaign admin keeps the API's rules: a campaign stays in its workspace and uses only that
workspace's sender accounts, and deletes and edits respect the state machine. Its page is what
API.md §9 shows a person: Activate and Pause (the API's actions, audited), the numbers and a
daily chart drawn here as SVG, tracking as checkboxes, and a step's preview and test send."""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.services import Actor
from campaigns import transitions
from campaigns.models import Campaign, CampaignStep, default_schedule, default_tracking
from campaigns.serializers import ScheduleSerializer, TrackingSerializer, known_timezones
from coldsend.admin import ButtonViewMixin, DeleteThroughServiceMixin, RefusalAnswerMixin
from coldsend.core import clock
from coldsend.core.errors import Conflict, Invalid, NotFound
from delivery import actions, previews
from delivery.api_selectors import campaign_progress
from engagement.selectors import campaign_analytics, campaign_stats, campaign_timezone
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.slots import NoSlot

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


class TrackingField(forms.MultipleChoiceField):
    """The campaign's `tracking` object as one checkbox per setting the API knows (opens,
    clicks): ticked ones true, the others false, as the API stores a replaced object."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        settings = TrackingSerializer().fields
        kwargs.setdefault(
            "help_text",
            " ".join(f"{name.capitalize()}: {field.help_text}" for name, field in settings.items()),
        )
        choices = [(name, name.capitalize()) for name in settings]
        super().__init__(choices=choices, required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):  # the stored object: the names set to true
            return [name for name, on in value.items() if on]
        return value

    def clean(self, value: Any) -> dict[str, bool]:
        ticked = set(super().clean(value))
        return {name: name in ticked for name, _ in self.choices}

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.clean(self.prepare_value(initial)) != self.clean(data)
        except forms.ValidationError:  # an unknown setting: the form shows the error
            return True


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
    tracking = TrackingField(initial=default_tracking)

    class Meta:
        model = Campaign
        fields = [
            "workspace",
            "name",
            "sender_accounts",
            "daily_limit",
            "schedule",
            "stop_on_reply",
            "tracking",
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
ADMIN_SETTINGS = ["name", "daily_limit", "schedule", "stop_on_reply", "tracking"]


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


# The chart: the last CHART_DAYS days of the campaign's time zone, one bar per series and day.
CHART_DAYS = 30
SERIES = [  # the API's daily series, in its order, with a colour readable on light and dark
    ("sent", "Sent", "#4e79a7"),
    ("opened", "Opened", "#59a14f"),
    ("clicked", "Clicked", "#f28e2b"),
    ("replied", "Replied", "#b07aa1"),
    ("bounced", "Bounced", "#e15759"),
    ("unsubscribed", "Unsubscribed", "#9c755f"),
]
RATES = [
    ("open_rate", "Open rate"),
    ("click_rate", "Click rate"),
    ("reply_rate", "Reply rate"),
    ("bounce_rate", "Bounce rate"),
]
WIDTH, HEIGHT = 900, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 40, 46  # room for the y labels, the legend, the x labels
LABEL_EVERY = 5  # days between date labels, counted back from the last day


def chart_range(campaign: Campaign) -> tuple[dt.date, dt.date]:
    """The last CHART_DAYS days, today included, in the campaign's time zone."""
    last = clock.now().astimezone(campaign_timezone(campaign)).date()
    return last - dt.timedelta(days=CHART_DAYS - 1), last


def round_ticks(peak: int, most: int = 5) -> list[int]:
    """0 and at most `most` evenly spaced round values (1, 2 or 5 times 10^n apart) up to `peak`."""
    step = next(
        m * 10**e for e in range(19) for m in (1, 2, 5) if -(-max(peak, 1) // (m * 10**e)) <= most
    )
    return [i * step for i in range(-(-max(peak, 1) // step) + 1)]


def _px(value: float) -> str:
    return f"{value:.1f}"


def daily_chart(analytics: dict[str, Any]) -> dict[str, Any]:
    """What the chart template draws, computed here: the legend, the y ticks, and per day its
    bars (one per series) and date label, in SVG user units."""
    days = analytics["daily"]
    ticks = round_ticks(max((day[name] for day in days for name, _, _ in SERIES), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_height

    def y(value: int) -> float:
        return base - value * plot_height / ticks[-1]

    slot = plot_width / len(days)
    bar = (slot - 4) / len(SERIES)
    drawn = []
    for i, day in enumerate(days):
        x = LEFT + i * slot
        counts = ", ".join(f"{label.lower()} {day[name]}" for name, label, _ in SERIES)
        drawn.append(
            {
                "date": day["date"].isoformat(),
                "title": f"{day['date']:%a %d %b %Y}: {counts}",
                "x": _px(x),
                "width": _px(slot),
                "label": f"{day['date']:%b %d}" if (len(days) - 1 - i) % LABEL_EVERY == 0 else "",
                "label_x": _px(x + slot / 2),
                "bars": [
                    {
                        "series": name,
                        "value": day[name],
                        "colour": colour,
                        "x": _px(x + 2 + j * bar),
                        "y": _px(y(day[name])),
                        "width": _px(bar),
                        "height": _px(base - y(day[name])),
                    }
                    for j, (name, _, colour) in enumerate(SERIES)
                ],
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "base": base,
        "plot_height": plot_height,
        "middle": _px(TOP + plot_height / 2),
        "label_y": base + 16,
        "axis_title_y": HEIGHT - 6,
        "axis_title_x": _px(LEFT + plot_width / 2),
        "timezone": analytics["timezone"],
        "first": analytics["from"],
        "last": analytics["to"],
        "totals": [(label, analytics["totals"][name]) for name, label, _ in SERIES],
        "legend": [
            {"series": name, "label": label, "colour": colour, "x": LEFT + j * 130}
            for j, (name, label, colour) in enumerate(SERIES)
        ],
        "ticks": [{"value": tick, "y": _px(y(tick))} for tick in ticks],
        "days": drawn,
    }


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
class CampaignAdmin(
    ButtonViewMixin, RefusalAnswerMixin, DeleteThroughServiceMixin, admin.ModelAdmin
):
    form = CampaignAdminForm
    delete_service = actions.do_delete_campaign
    list_display = ["name", "workspace", "status", "daily_limit", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "status", "paused_reason"]}),
        ("Numbers", {"fields": ["numbers", "daily_chart", "progress"]}),
        (
            "Settings",
            {
                "fields": [
                    "sender_accounts", "daily_limit", "schedule", "stop_on_reply", "tracking",
                    "include_unsubscribe_link", "max_bounce_rate", "created_at", "updated_at",
                ]
            },
        ),
    ]  # fmt: skip
    # Status moves only through campaigns.transitions (the Activate and Pause buttons, as the
    # API's routes), never by editing the row; the other sending settings are changed through
    # the API, which validates them.
    readonly_fields = [
        "status", "paused_reason", "numbers", "daily_chart", "progress",
        "include_unsubscribe_link", "max_bounce_rate", "created_at", "updated_at",
    ]  # fmt: skip
    filter_horizontal = ["sender_accounts"]
    inlines = [CampaignStepInline]
    list_select_related = ["workspace"]

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        if obj is None:  # a new campaign has no numbers yet
            return [fieldset for fieldset in self.fieldsets if fieldset[0] != "Numbers"]
        return self.fieldsets

    @admin.display(description="Totals and rates")
    def numbers(self, campaign: Campaign) -> str:
        """The API's `stats`: event counts, rates in leads, and leads by status."""
        stats = campaign_stats(campaign)
        return render_to_string(
            "admin/campaigns/campaign/numbers.html",
            {
                "events": [(name, label, stats[name]) for name, label, _ in SERIES],
                "rates": [(name, label, f"{stats[name]:.1%}") for name, label in RATES],
                "leads_total": stats["leads_total"],
                "leads_by_status": stats["leads_by_status"].items(),
            },
        )

    @admin.display(description="Last 30 days")
    def daily_chart(self, campaign: Campaign) -> str:
        """The API's daily analytics of the last 30 days, drawn here as an SVG bar chart."""
        analytics = campaign_analytics(campaign, *chart_range(campaign))
        return render_to_string(
            "admin/campaigns/campaign/daily_chart.html", {"chart": daily_chart(analytics)}
        )

    @admin.display(description="Sending")
    def progress(self, campaign: Campaign) -> str:
        """How many leads have a send scheduled, and the next sends."""
        progress = campaign_progress(campaign)
        next_sends = format_html_join(
            "",
            "<li>{} — step {} at {}</li>",
            (
                (email, step + 1, when.strftime("%Y-%m-%d %H:%M:%S UTC"))
                for email, step, when in progress["next"]
            ),
        )
        return format_html(
            "<p>Scheduled: {} · being sent now: {}</p><p>Next sends:</p><ul>{}</ul>",
            progress["scheduled"],
            progress["in_flight"],
            next_sends or format_html("<li>{}</li>", "none"),
        )

    # The state machine's moves, as the API's POST campaigns/{id}/activate and /pause.
    MOVES: dict[str, tuple[str, Callable[..., Campaign]]] = {
        "activate": ("Activate", actions.do_activate_campaign),
        "pause": ("Pause", actions.do_pause_campaign),
    }

    def get_urls(self) -> list:
        opts = self.opts
        moves = [
            path(
                f"<path:object_id>/{move}/",
                self.admin_site.admin_view(self.move_view),
                {"move": move},
                name=f"{opts.app_label}_{opts.model_name}_{move}",
            )
            for move in self.MOVES
        ]
        trying = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"{opts.app_label}_{opts.model_name}_{name}",
            )
            for name, view in (("preview", self.preview_view), ("test", self.test_view))
        ]
        return [*moves, *trying, *super().get_urls()]

    def move_view(self, request: HttpRequest, object_id: str, move: str) -> HttpResponse:
        """POST only: activate or pause through the API's action, audited as the admin user;
        a refusal (409 in the API) shows as an error message."""
        campaign = self.posted_object(request, object_id)
        if isinstance(campaign, HttpResponse):
            return campaign
        label, do_move = self.MOVES[move]
        try:
            moved = do_move(campaign, actor=Actor.for_user(request.user))
        except Conflict as conflict:
            problems = " ".join(conflict.extra.get("problems", []))
            messages.error(request, f"{label}: {conflict.detail} {problems}".strip())
        except NotFound:
            messages.error(request, f"{campaign}: deleted meanwhile.")
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_changelist"))
        else:
            messages.success(request, f"“{moved}” is {moved.status}.")
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])
        )

    def _step_of(self, request: HttpRequest, data: Any) -> int | None:
        try:
            return int(data.get("step", 1))
        except (TypeError, ValueError):
            messages.error(request, "Step: enter a whole number.")
            return None

    def _change_page(self, campaign: Campaign) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])
        )

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The API's `preview`: step `step` rendered exactly as it would be sent to the lead
        `lead` (an address of the campaign's), by default the campaign's oldest lead. Writes
        nothing."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, campaign):
            raise PermissionDenied
        step = self._step_of(request, request.GET)
        if step is None:
            return self._change_page(campaign)
        address = request.GET.get("lead", "").strip().lower()
        lead = previews.oldest_lead(campaign)
        if address:
            lead = Lead.objects.filter(campaign_id=campaign.pk, email=address).first()
            if lead is None:
                messages.error(request, f"No lead {address} in this campaign.")
                return self._change_page(campaign)
        try:
            preview = previews.preview(campaign, step, lead)
        except Invalid as invalid:
            messages.error(request, f"Preview: {invalid.detail}")
            return self._change_page(campaign)
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": f"Step {step} of “{campaign}” as "
            f"{lead.email if lead else 'a lead with empty fields'} gets it",
            "opts": self.opts,
            "campaign": campaign,
            "step": step,
            "lead": lead,
            "preview": preview,
            "steps": range(1, campaign.steps.count() + 1),
            "change_url": self._change_page(campaign).url,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/preview.html", context)

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: the API's `test` (step `step` sent once, now, to `to`, for a lead with
        empty fields), audited as the admin user; the outcome shows as a message."""
        campaign = self.posted_object(request, object_id)
        if isinstance(campaign, HttpResponse):
            return campaign
        step = self._step_of(request, request.POST)
        if step is None:
            return self._change_page(campaign)
        to = request.POST.get("to", "")
        try:
            result = actions.do_test_send(
                campaign, step=step, to=to, lead=None, actor=Actor.for_user(request.user)
            )
        except (Invalid, Conflict) as refused:
            problems = " ".join(getattr(refused, "extra", {}).get("problems", []))
            messages.error(request, f"Send test: {refused.detail} {problems}".strip())
        except NoSlot:
            messages.warning(
                request,
                "Two checks or test sends are already running in this workspace: try again in "
                "a few seconds.",
            )
        else:
            if result.sent:
                messages.success(request, f"Step {step} was sent to {to.strip()} as a test.")
            else:
                messages.error(request, f"The test of step {step} was not sent: {result.error}")
        return self._change_page(campaign)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """The change page offers the moves its campaign's status allows, and a step's preview
        and test send."""
        campaign = self.get_object(request, unquote(object_id))
        buttons, trying = [], None
        if campaign is not None and self.has_change_permission(request, campaign):
            buttons = [
                {
                    "move": move,
                    "label": label,
                    "url": reverse(f"admin:campaigns_campaign_{move}", args=[quote(campaign.pk)]),
                }
                for move, (label, _) in self.MOVES.items()
                if campaign.status in transitions.allowed_states(move)
            ]
        if campaign is not None and self.has_view_or_change_permission(request, campaign):
            trying = {
                "steps": range(1, campaign.steps.count() + 1),
                "preview_url": reverse(
                    "admin:campaigns_campaign_preview", args=[quote(campaign.pk)]
                ),
                "test_url": reverse("admin:campaigns_campaign_test", args=[quote(campaign.pk)])
                if self.has_change_permission(request, campaign)
                else None,
            }
        context = {**(extra_context or {}), "campaign_moves": buttons, "try_steps": trying}
        return super().change_view(request, object_id, form_url, context)

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
