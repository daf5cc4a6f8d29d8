from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet, TextChoices
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from coldsend.api.fields import conflict_body, named_choice_field
from coldsend.api.strict import StrictFieldsMixin
from delivery.models import Message
from engagement.selectors import NO_ENGAGEMENT
from leads.emails import MAX_LENGTH as MAX_EMAIL_LENGTH
from leads.emails import SHAPE_DESCRIPTION as EMAIL_SHAPE
from leads.emails import normalize_email
from leads.models import Lead
from leads.services import CAMPAIGN_NOT_FOUND
from leads.values import (
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_KEY_LENGTH,
    MAX_CUSTOM_VALUE_LENGTH,
    custom_fields_problems,
)

LeadStatusField = named_choice_field(Lead.Status, "LeadStatus")


class MessageStatus(TextChoices):
    """What a client sees of a message: the engine's in-between states read as FAILED."""

    SENT = "SENT"
    FAILED = "FAILED"
    BOUNCED = "BOUNCED"


CUSTOM_FIELDS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "type": "string",
        "maxLength": MAX_CUSTOM_VALUE_LENGTH,
        "pattern": "^[^\\u0000]*$",
    },
    "maxProperties": MAX_CUSTOM_FIELDS,
    "description": (
        f"Free-form string attributes (e.g. merge tags): at most {MAX_CUSTOM_FIELDS} keys "
        f"of 1 to {MAX_CUSTOM_KEY_LENGTH} characters, each value a string of at most "
        f"{MAX_CUSTOM_VALUE_LENGTH} characters. Numbers, booleans, null and nested "
        "objects are refused, not converted."
    ),
}


class CampaignIdField(serializers.PrimaryKeyRelatedField):
    """A campaign of the key's workspace; any other id (absent, or another workspace's) reads
    the same, so the answer gives no hint about other workspaces."""

    default_error_messages = {
        "does_not_exist": CAMPAIGN_NOT_FOUND,
        "incorrect_type": "Must be a valid UUID.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self) -> QuerySet:
        return Campaign.objects.for_workspace(self.context["workspace"])


@extend_schema_field(CUSTOM_FIELDS_SCHEMA)
class CustomFieldsField(serializers.Field):
    default_error_messages = {"not_object": "Expected an object of string keys to string values."}

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            self.fail("not_object")
        problems = custom_fields_problems(data)
        if problems:
            raise serializers.ValidationError(problems)
        return data

    def to_representation(self, value: dict[str, str]) -> dict[str, str]:
        return value


@extend_schema_field(OpenApiTypes.EMAIL)
class EmailAddressField(serializers.CharField):
    """Checked by the shared normaliser (validate_email), which also lower-cases it."""


class LeadEngagementSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Emails sent to this lead.")
    opened = serializers.IntegerField(help_text="Open events (each tracked open counts).")
    clicked = serializers.IntegerField(help_text="Click events (each tracked click counts).")
    replied_at = serializers.DateTimeField(allow_null=True, help_text="First reply, if any.")
    last_contacted_at = serializers.DateTimeField(
        allow_null=True, help_text="Last email sent, if any."
    )


class LeadSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A recipient of one campaign. Leads are created and deleted, never updated."""

    campaign_id = CampaignIdField(
        source="campaign",
        help_text="A campaign of your workspace. Any other id is a 400 on `campaign_id`.",
    )
    email = EmailAddressField(
        max_length=MAX_EMAIL_LENGTH,
        help_text="Validated, trimmed and stored lower-cased; unique within the campaign. "
        + EMAIL_SHAPE,
    )
    custom_fields = CustomFieldsField(required=False)
    status = LeadStatusField(
        read_only=True,
        help_text="PENDING at creation (UNSUBSCRIBED or BOUNCED at once when the address is "
        "suppressed in the workspace); then moved by the sending engine only: CONTACTED after "
        "the first send, COMPLETED after the last step, or REPLIED, BOUNCED, UNSUBSCRIBED, "
        "FAILED.",
    )
    current_step = serializers.IntegerField(
        read_only=True, help_text="The last step sent (1-based); 0 before the first send."
    )
    next_send_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="The earliest instant the next step may go, as far as the campaign's window, "
        "the account's gap and the daily limits are known; null when nothing is left to send "
        "or the campaign is not ACTIVE.",
    )
    engagement = serializers.SerializerMethodField(
        help_text="Counts and times from this lead's email events (also on list items, "
        "computed with one grouped query per page)."
    )

    class Meta:
        model = Lead
        fields = [
            "id", "campaign_id", "email", "first_name", "last_name", "company",
            "custom_fields", "status", "current_step", "next_send_at", "created_at",
            "engagement",
        ]  # fmt: skip
        read_only_fields = ["id", "current_step", "next_send_at", "created_at"]
        # Uniqueness per campaign is left to the database (a 409 from create_lead), not a
        # pre-check that two racing requests could both pass.
        validators = []

    @extend_schema_field(LeadEngagementSerializer)
    def get_engagement(self, lead: Lead) -> dict:
        # Set by engagement.selectors.attach_engagement; a lead just created has none yet.
        return LeadEngagementSerializer(getattr(lead, "engagement", NO_ENGAGEMENT)).data

    def validate_email(self, value: str) -> str:
        try:
            email = normalize_email(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return email


MessageStatusField = named_choice_field(MessageStatus, "MessageStatus")


class LeadMessageSerializer(serializers.Serializer):
    """One step sent or attempted to the lead."""

    id = serializers.UUIDField()
    step = serializers.IntegerField(help_text="1-based position of the step in the campaign.")
    sender_account_id = serializers.UUIDField(
        allow_null=True, help_text="The account it went through (null if since deleted)."
    )
    subject = serializers.CharField(help_text="The subject as rendered for this lead.")
    message_id = serializers.CharField(
        help_text="The `Message-ID` header, with its angle brackets, e.g. `<0192…@sender.example>`."
    )
    status = MessageStatusField(
        source="public_status",
        help_text="SENT: accepted by the server. BOUNCED: refused for good (5xx); the address "
        "is then suppressed. FAILED: not delivered; a temporary failure (4xx, dropped "
        "connection) is tried again while the lead's `next_send_at` is set, and the message "
        "then shows its new outcome; after the last try, or a send interrupted by a crash, it "
        "stays FAILED and the lead is FAILED.",
    )
    attempts = serializers.IntegerField(help_text="SMTP transactions started for it.")
    error = serializers.CharField(
        allow_null=True, help_text="The server's answer or the failure, when not SENT."
    )
    sent_at = serializers.DateTimeField(allow_null=True, help_text="When it was accepted.")

    def to_representation(self, message: Message) -> dict:
        data = super().to_representation(message)
        data["error"] = data["error"] or None
        return data


LeadDuplicateSerializer = conflict_body(
    "LeadDuplicate",
    ["duplicate"],
    lead_id=serializers.UUIDField(help_text="The lead that already has this email."),
)
LeadStateConflictSerializer = conflict_body(
    "LeadStateConflict",
    ["invalid_state"],
    status=LeadStatusField(help_text="The lead's current status."),
    allowed=serializers.ListField(
        child=LeadStatusField(), help_text="The statuses a lead can be deleted from."
    ),
)
