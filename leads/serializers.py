from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet, TextChoices
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from campaigns.serializers import BodyField
from coldsend.api.fields import SingleLineCharField, conflict_body, named_choice_field
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core.errors import ErrorCode
from delivery.api_selectors import ConversationItem
from delivery.models import Answer, InboundMessage, Message
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
MAX_REPLY_BODY = 100_000


class MessageStatus(TextChoices):
    """What a client sees of an outbound message: an answer waiting for a worker is QUEUED; the
    engine's other in-between states read as FAILED."""

    QUEUED = "QUEUED"
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


class OutboundKind(TextChoices):
    STEP = "STEP"
    ANSWER = "ANSWER"


OutboundKindField = named_choice_field(OutboundKind, "OutboundKind")
InboundKindField = named_choice_field(InboundMessage.Kind, "InboundKind")


def _constant(value: str) -> serializers.Field:
    """A field that is always `value` (the `direction` that tells the two item shapes apart)."""

    @extend_schema_field({"type": "string", "enum": [value]})
    class Constant(serializers.CharField):
        pass

    return Constant(help_text=f"Always `{value}` for this shape.")


def answer_public_status(answer: Answer) -> str:
    """An answer as a client sees it: QUEUED until its SMTP transaction has an outcome (SENT or
    FAILED; one interrupted by a crash is FAILED after the lease): it is never tried twice."""
    if answer.status in (Answer.Status.QUEUED, Answer.Status.CLAIMED, Answer.Status.SENDING):
        return MessageStatus.QUEUED
    if answer.status == Answer.Status.SENT:
        return MessageStatus.SENT
    return MessageStatus.FAILED


class OutboundMessageSerializer(serializers.Serializer):
    """What we sent or are sending to the lead: a campaign step (STEP) or an answer written with
    `POST leads/{id}/reply` (ANSWER)."""

    id = serializers.UUIDField()
    direction = _constant("outbound")
    kind = OutboundKindField(
        help_text="STEP: a step of the campaign. ANSWER: sent with `POST leads/{id}/reply`."
    )
    at = serializers.DateTimeField(
        help_text="Where it sorts: `sent_at` once sent; before that, when it was last attempted "
        "(a step) or queued (an answer)."
    )
    step = serializers.IntegerField(
        allow_null=True,
        help_text="1-based position of the step in the campaign; null for an answer.",
    )
    sender_account_id = serializers.UUIDField(
        allow_null=True, help_text="The account it went through (null if since deleted)."
    )
    subject = serializers.CharField(help_text="The subject as rendered for this lead.")
    message_id = serializers.CharField(
        help_text="The `Message-ID` header, with its angle brackets, e.g. `<0192…@sender.example>` "
        "(an answer has it from the start)."
    )
    status = MessageStatusField(
        help_text="QUEUED: an answer waiting for a worker (also while its account is in ERROR or "
        "at its daily limit). SENT: accepted by the server. BOUNCED: a step refused for good "
        "(5xx); the address is then suppressed. FAILED: not delivered; a step's temporary "
        "failure (4xx, dropped connection) is tried again while the lead's `next_send_at` is "
        "set, and the message then shows its new outcome; after the last try, or a send "
        "interrupted by a crash, it stays FAILED (a step's lead is then FAILED). A message in "
        "the middle of its SMTP transaction also reads FAILED until the outcome is recorded."
    )
    attempts = serializers.IntegerField(help_text="SMTP transactions started for it.")
    error = serializers.CharField(
        allow_null=True, help_text="The server's answer or the failure, when not SENT."
    )
    sent_at = serializers.DateTimeField(allow_null=True, help_text="When it was accepted.")


class InboundMessageSerializer(serializers.Serializer):
    """A message that came in for the lead and counts: a reply, an automatic answer or a bounce
    report (API.md §8)."""

    id = serializers.UUIDField()
    direction = _constant("inbound")
    kind = InboundKindField(
        help_text="REPLY: the lead answered. AUTO_REPLY: an automatic answer (out of office …). "
        "BOUNCE: a delivery report saying our message was not delivered."
    )
    at = serializers.DateTimeField(help_text="The same as `received_at`.")
    from_address = serializers.CharField(
        source="record.from_address", help_text="The `From` address as received."
    )
    subject = serializers.CharField(help_text="The `Subject` as received.")
    text = serializers.CharField(
        help_text="The plain-text part, or the HTML part turned to text; at most 100,000 "
        "characters."
    )
    message_id = serializers.CharField(
        help_text="Its `Message-ID`, with angle brackets; empty when it had none."
    )
    in_reply_to = serializers.CharField(
        help_text="Its `In-Reply-To` header (the message of ours it answers), or empty."
    )
    received_at = serializers.DateTimeField(
        help_text="When the mailbox received it (its IMAP arrival time)."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # `from` is a Python keyword: named here
        return {("from" if name == "from_address" else name): f for name, f in fields.items()}


def conversation_item(item: ConversationItem) -> dict:
    """One item of `GET leads/{id}/messages` as the API shows it."""
    record = item.record
    if isinstance(record, InboundMessage):
        return InboundMessageSerializer(
            {
                "id": record.pk,
                "direction": "inbound",
                "kind": record.kind,
                "at": item.at,
                "record": record,
                "subject": record.subject,
                "text": record.text,
                "message_id": record.message_id,
                "in_reply_to": record.in_reply_to,
                "received_at": record.received_at,
            }
        ).data
    is_step = isinstance(record, Message)
    return OutboundMessageSerializer(
        {
            "id": record.pk,
            "direction": "outbound",
            "kind": OutboundKind.STEP if is_step else OutboundKind.ANSWER,
            "at": item.at,
            "step": record.step if is_step else None,
            "sender_account_id": record.sender_account_id,
            "subject": record.subject,
            "message_id": record.message_id,
            "status": record.public_status if is_step else answer_public_status(record),
            "attempts": record.attempts,
            "error": record.error or None,
            "sent_at": record.sent_at,
        }
    ).data


# The items of `GET leads/{id}/messages`: a `oneOf` told apart by `direction`.
CONVERSATION_ITEMS = PolymorphicProxySerializer(
    component_name="ConversationItem",
    serializers={"outbound": OutboundMessageSerializer, "inbound": InboundMessageSerializer},
    resource_type_field_name="direction",
    many=True,
)


class LeadReplySerializer(StrictFieldsMixin, serializers.Serializer):
    """An answer to the lead, in its thread. Unknown fields are refused (400)."""

    body = BodyField(
        max_length=MAX_REPLY_BODY,
        trim_whitespace=False,
        help_text="The plain text, kept as sent (not whitespace only), at most 100,000 "
        "characters. Nothing is added to it: no unsubscribe line, no tracking.",
    )
    subject = SingleLineCharField(
        max_length=998,
        required=False,
        help_text="The Subject header: one line (CR and LF are refused). Left out: the thread's "
        "subject with exactly one `Re: `.",
    )

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


LeadReplyConflictSerializer = conflict_body(
    "LeadReplyConflict",
    [ErrorCode.INVALID_STATE, ErrorCode.SUPPRESSED, ErrorCode.NOT_READY],
    "A 409: the lead cannot be answered.",
    status=LeadStatusField(
        required=False, help_text="`invalid_state` only: the lead's current status."
    ),
    problems=serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="`not_ready` only: what is missing to send the answer.",
    ),
)


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
