from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string

from audit.services import Actor
from coldsend.admin import DeleteThroughServiceMixin
from delivery import actions
from delivery.api_selectors import lead_messages
from delivery.models import Answer, InboundMessage, Message
from engagement.models import EmailEvent
from leads.emails import normalize_email
from leads.models import Lead
from leads.serializers import answer_public_status, custom_fields_problems
from leads.transitions import DELETABLE


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = [
            "campaign", "email", "first_name", "last_name", "company", "custom_fields",
        ]  # fmt: skip

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def clean_custom_fields(self) -> dict:
        value = self.cleaned_data["custom_fields"]
        if not isinstance(value, dict):
            raise ValidationError("Expected an object of string keys to string values.")
        problems = custom_fields_problems(value)
        if problems:
            raise ValidationError(problems)
        return value


def conversation_kind(record: Message | Answer | InboundMessage) -> str:
    if isinstance(record, InboundMessage):
        return record.kind
    return "STEP" if isinstance(record, Message) else "ANSWER"


def public_status(record: Message | Answer) -> str:
    return record.public_status if isinstance(record, Message) else answer_public_status(record)


EVENTS_SHOWN = 500  # opens can repeat without end: the page shows the latest ones


@admin.register(Lead)
class LeadAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    form = LeadAdminForm
    delete_service = actions.do_remove_lead
    list_display = ["email", "campaign", "status", "current_step", "next_send_at", "created_at"]
    list_filter = ["status", "campaign", "workspace"]
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign"]
    # The status and delivery state are moved by the sending engine and the trackers only.
    readonly_fields = [
        "id", "workspace", "status", "current_step", "next_send_at", "last_sent_at",
        "sender_account", "created_at", "conversation", "events",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": LeadAdminForm.Meta.fields}),
        (
            "Delivery",
            {
                "fields": [
                    "id", "workspace", "status", "current_step", "next_send_at",
                    "last_sent_at", "sender_account", "created_at",
                ]
            },
        ),
        ("Conversation", {"fields": ["conversation"]}),
        ("Events", {"fields": ["events"]}),
    ]  # fmt: skip
    search_fields = ["email"]
    search_help_text = "A full address matches exactly; anything else matches part of the email."
    # Sized for millions of rows: no second unfiltered COUNT, and sorting only by the default
    # newest-first id order, which the indexes serve (other columns would sort the whole table).
    show_full_result_count = False
    sortable_by = []

    def get_fieldsets(self, request: HttpRequest, obj: Lead | None = None) -> list:
        if obj is None:  # a new lead has no messages and no events
            return [fieldset for fieldset in self.fieldsets if fieldset[0] is None]
        return self.fieldsets

    @admin.display(description="Sent and received")
    def conversation(self, lead: Lead) -> str:
        """The lead's conversation, oldest first, as `GET leads/{id}/messages` lists it: the
        steps sent or attempted, the answers, and what came in (replies, automatic answers,
        bounce reports); read-only, statuses as the API shows them."""
        items = [
            {
                "direction": item.direction,
                "kind": conversation_kind(item.record),
                "status": None if item.direction == "inbound" else public_status(item.record),
                "record": item.record,
            }
            for item in lead_messages(lead, with_accounts=True)
        ]
        return render_to_string("admin/leads/lead/conversation.html", {"items": items})

    @admin.display(description="Events")
    def events(self, lead: Lead) -> str:
        """What happened to the lead's messages (sent, opened, clicked, replied …), oldest
        first: the latest EVENTS_SHOWN."""
        latest = list(
            EmailEvent.objects.filter(lead=lead)
            .select_related("step")
            .order_by("-occurred_at", "-id")[: EVENTS_SHOWN + 1]
        )
        return render_to_string(
            "admin/leads/lead/events.html",
            {"events": latest[:EVENTS_SHOWN][::-1], "earlier": len(latest) > EVENTS_SHOWN},
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        if "@" in term and " " not in term:
            return queryset.filter(email=term), False
        return queryset.filter(email__contains=term), False

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        obj.workspace_id = obj.campaign.workspace_id  # a lead lives in its campaign's workspace
        if change:
            super().save_model(request, obj, form, change)
            return
        # Added as the API adds one: suppression applied, scheduled if the campaign sends.
        data = {field: form.cleaned_data[field] for field in LeadAdminForm.Meta.fields}
        lead = actions.do_add_lead(obj.campaign.workspace, data, actor=Actor.for_user(request.user))
        obj.pk, obj._state.adding = lead.pk, False
        obj.status, obj.next_send_at = lead.status, lead.next_send_at

    def delete_refusals(self, lead: Lead) -> list[str]:
        if lead.status in DELETABLE:
            return []
        return [f"{lead}: is {lead.status}: only PENDING leads can be deleted"]
