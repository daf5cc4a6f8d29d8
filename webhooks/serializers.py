"""Webhook endpoints over the API (API.md §10): validate what a client sends, shape what it
reads. The secret is shown by the create and rotate_secret answers only
(WebhookWithSecretSerializer); every other answer uses WebhookSerializer, which has no such
field, so no code path can leak it by accident."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from coldsend.api.fields import conflict_body, named_choice_field
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core.errors import ErrorCode
from events.types import SUBSCRIBABLE
from leads.services import CAMPAIGN_NOT_FOUND
from webhooks.models import WebhookEndpoint
from webhooks.services import MAX_ROTATION_OVERLAP, url_problems

MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 500
EVERY_TYPE = "*"
STANDS_ALONE = 'Send ["*"] alone for every type, or a list of types without "*".'
TYPES_HELP = (
    'The event types the endpoint gets: a non-empty list of distinct types, or ["*"] alone '
    "for every type, including types added later. `webhook.test` goes only to the endpoint it "
    "is sent to and cannot be subscribed to. An endpoint of one campaign takes only the "
    "`message.*`, `lead.*` and `campaign.*` types (a 400 otherwise)."
)

DisabledReasonField = named_choice_field(WebhookEndpoint.DisabledReason, "WebhookDisabledReason")


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "string", "enum": list(SUBSCRIBABLE)},
                "minItems": 1,
                "uniqueItems": True,
            },
            {
                "type": "array",
                "items": {"type": "string", "enum": [EVERY_TYPE]},
                "minItems": 1,
                "maxItems": 1,
            },
        ],
        "description": TYPES_HELP,
    },
    component_name="WebhookEventTypes",
)
class EventTypesField(serializers.ListField):
    """Subscribable type names, each once, or `["*"]` alone; unknown names are listed in the
    400 so a typo is named, not silently never delivered."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_empty", False)
        super().__init__(child=serializers.CharField(trim_whitespace=False), **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        types = super().to_internal_value(data)
        if EVERY_TYPE in types:
            if types != [EVERY_TYPE]:
                raise serializers.ValidationError(STANDS_ALONE)
            return types
        unknown = [t for t in dict.fromkeys(types) if t not in SUBSCRIBABLE]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event types: {', '.join(unknown)}. Use types of GET events other "
                'than webhook.test, or ["*"].'
            )
        repeated = [t for t in dict.fromkeys(types) if types.count(t) > 1]
        if repeated:
            raise serializers.ValidationError(f"Listed more than once: {', '.join(repeated)}.")
        return types


class WebhookURLField(serializers.URLField):
    """An https URL (http too where private hosts are allowed: development) whose host resolves
    to public addresses only, unless private hosts are allowed; checked again at every connect,
    after DNS."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_length=MAX_URL_LENGTH,
            trim_whitespace=False,
            help_text="Where events are POSTed: https (http only where the server allows "
            "private hosts, i.e. in development), no username or password, a host that "
            "resolves to public addresses only (loopback, private, link-local and reserved "
            "addresses are refused unless SMTP_ALLOW_PRIVATE_HOSTS is on). Checked now and "
            "again at every connect, after DNS; redirects are never followed.",
            **kwargs,
        )

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # After the field's own checks (URLValidator among them): url_problems expects a URL
        # that parses (urlsplit raises on "http://[::1").
        url = super().run_validation(data)
        problems = url_problems(url) if isinstance(url, str) else []
        if problems:
            raise serializers.ValidationError(problems)
        return url


class CampaignIdField(serializers.PrimaryKeyRelatedField):
    """A campaign of the key's workspace, read as its id; any other id (absent, or another
    workspace's) reads the same, so the answer gives no hint about other workspaces."""

    default_error_messages = {
        "does_not_exist": CAMPAIGN_NOT_FOUND,
        "incorrect_type": "Must be a valid UUID.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            pk_field=serializers.UUIDField(),
            allow_null=True,
            help_text="Only this campaign's events (`message.*`, `lead.*`, `campaign.*`); null "
            "for the whole workspace. A campaign of your workspace, else a 400. Deleting the "
            'campaign disables the endpoint (`disabled_reason` "campaign_deleted").',
            **kwargs,
        )

    def get_queryset(self) -> QuerySet:
        return Campaign.objects.for_workspace(self.context["workspace"])

    def to_internal_value(self, data: Any) -> Any:
        campaign = super().to_internal_value(data)
        return campaign.pk


class WebhookSerializer(serializers.Serializer):
    """A webhook endpoint. Its secret is never shown here: only by create and rotate_secret."""

    id = serializers.UUIDField()
    url = serializers.URLField(help_text="Where events are POSTed.")
    event_types = EventTypesField()
    campaign_id = serializers.UUIDField(
        allow_null=True, help_text="Only this campaign's events; null for the whole workspace."
    )
    description = serializers.CharField(help_text="Free text, for your own reference.")
    enabled = serializers.BooleanField(
        help_text="False when disabled (by hand, or by the service: see `disabled_reason`); a "
        "disabled endpoint gets nothing, and re-enabling it does not resend what it missed "
        "(use replay)."
    )
    disabled_reason = DisabledReasonField(
        allow_null=True,
        help_text="Why the service disabled it: `failing` (no success for 5 days while "
        "attempts failed), `gone` (it answered 410) or `campaign_deleted`; null while enabled "
        "or when disabled by hand.",
    )
    created_at = serializers.DateTimeField()


class WebhookWithSecretSerializer(WebhookSerializer):
    """An endpoint with its signing secret, shown this once."""

    secret = serializers.CharField(
        help_text="`whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret. "
        "Shown this once (stored encrypted, never shown again): keep it now."
    )


class _ReadOnlyWebhookFields(serializers.Serializer):
    """The fields a client reads but never sets: sending one is a 400 (StrictFieldsMixin)."""

    id = serializers.UUIDField(read_only=True)
    disabled_reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    secret = serializers.CharField(read_only=True)


class WebhookCreateSerializer(StrictFieldsMixin, _ReadOnlyWebhookFields):
    """A new endpoint: enabled, with a new secret (in the 201 only)."""

    read_only_messages = {
        "enabled": "A new endpoint is enabled; PATCH it to disable it.",
        "secret": "The service makes the secret; it is in this answer.",
    }

    url = WebhookURLField()
    event_types = EventTypesField()
    campaign_id = CampaignIdField(required=False, default=None)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, allow_blank=True, required=False, default=""
    )
    enabled = serializers.BooleanField(read_only=True)


class WebhookUpdateSerializer(StrictFieldsMixin, _ReadOnlyWebhookFields):
    """Only the fields sent change."""

    read_only_messages = {"secret": "Use rotate_secret for a new secret."}

    url = WebhookURLField(required=False)
    event_types = EventTypesField(required=False)
    campaign_id = CampaignIdField(required=False)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, allow_blank=True, required=False
    )
    enabled = serializers.BooleanField(
        required=False,
        help_text="true re-enables a disabled endpoint (clearing `disabled_reason`; what it "
        "missed is not resent: use replay); false disables it by hand and drops what it had "
        "pending.",
    )


class RotateSecretSerializer(StrictFieldsMixin, serializers.Serializer):
    """How long the previous secret keeps signing; an empty body takes the default."""

    expire_previous_in_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ROTATION_OVERLAP,
        default=MAX_ROTATION_OVERLAP,
        help_text="How long deliveries stay signed with the previous secret too (both "
        "signatures, space-separated in `webhook-signature`), so receivers can switch without "
        "dropping one. 0: the previous secret stops at once (for a leaked one).",
    )


UNTIL_BEFORE_SINCE = "Must be at or after `since`."


class ReplaySerializer(StrictFieldsMixin, serializers.Serializer):
    """The range of stored events to deliver again."""

    since = serializers.DateTimeField(help_text="From this time (inclusive), ISO 8601.")
    until = serializers.DateTimeField(
        required=False,
        help_text="Up to this time (inclusive), ISO 8601; default now. At or after `since` "
        "(400 otherwise).",
    )

    def validate(self, attrs: dict) -> dict:
        if "until" in attrs and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": [UNTIL_BEFORE_SINCE]})
        return attrs


class ReplayQueuedSerializer(serializers.Serializer):
    """How many events a replay queued."""

    queued = serializers.IntegerField(
        help_text="Events queued for delivery to this endpoint (each is delivered again even "
        "if it was delivered before: receivers dedupe on `webhook-id`)."
    )


class WebhookTestSerializer(serializers.Serializer):
    """What the endpoint did with the test event."""

    status_code = serializers.IntegerField(
        allow_null=True, help_text="The endpoint's HTTP status; null when it did not answer."
    )
    error = serializers.CharField(
        allow_null=True,
        help_text="Why there is no answer (refused, timed out, TLS …); null when it answered.",
    )
    duration_ms = serializers.IntegerField(help_text="How long the attempt took.")


class WebhookAttemptSerializer(serializers.Serializer):
    """One POST of an event to the endpoint."""

    event_id = serializers.UUIDField(help_text="The event's id (its `webhook-id`).")
    event_type = serializers.CharField()
    attempt = serializers.IntegerField(help_text="1 for the first try of this event, then 2 …")
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The endpoint's HTTP status; null when it did not answer."
    )
    error = serializers.CharField(allow_null=True, help_text="Why there is no answer, if so.")
    response_body = serializers.CharField(
        allow_null=True, help_text="The first 1 KB of the endpoint's answer, if any."
    )
    duration_ms = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When it is tried again after this failure; null after a success or the "
        "last try.",
    )


WebhookLimitReached = conflict_body(
    "WebhookLimitReached",
    [ErrorCode.LIMIT_REACHED],
    "A 409: the workspace already has WEBHOOKS_PER_WORKSPACE endpoints (default 20).",
    limit=serializers.IntegerField(help_text="Endpoints a workspace may have."),
)
