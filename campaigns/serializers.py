import datetime as dt
import functools
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from campaigns.models import Campaign, CampaignStep, default_schedule, default_tracking
from coldsend.api.fields import SingleLineCharField, conflict_body, named_choice_field
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core.errors import ErrorCode
from engagement.selectors import EVENT_COUNTERS, campaign_stats, campaign_timezone
from leads.models import Lead
from sender_accounts.models import SenderAccount

MAX_STEPS = 20
MAX_SENDER_ACCOUNTS = 100
MAX_ANALYTICS_DAYS = 366
DEFAULT_ANALYTICS_DAYS = 30
STATUS_READ_ONLY = (
    "The status cannot be changed here: use POST campaigns/{id}/activate or campaigns/{id}/pause."
)


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class WholeObjectMixin(StrictFieldsMixin):
    """An object that is always complete: its required fields stay required in a PATCH (a
    nested schedule or step is replaced, never merged), and omitted ones take their defaults."""

    def input_errors(self, data: Mapping) -> dict[str, Any]:
        errors = super().input_errors(data)
        for name, field in self.fields.items():
            if field.required and name not in data:
                errors[name] = [field.error_messages["required"]]
        return errors

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        # A PATCH skips defaults, but a replaced object takes them.
        for name, field in self.fields.items():
            if name not in value and not field.read_only and field.default is not empty:
                value[name] = field.default() if callable(field.default) else field.default
        return value


CampaignStatusField = named_choice_field(Campaign.Status, "CampaignStatus")
PausedReasonField = named_choice_field(Campaign.PausedReason, "PausedReason")


hh_mm = RegexValidator(r"^([01]\d|2[0-3]):[0-5]\d\Z", 'Use 24-hour "HH:MM", e.g. "09:30".')


@extend_schema_field(
    {"type": "string", "enum": sorted(known_timezones())}, component_name="TimeZone"
)
class TimeZoneField(serializers.CharField):
    """An IANA time zone name the server knows; the schema lists them."""


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 7},
        "minItems": 1,
        "maxItems": 7,
        "uniqueItems": True,
    }
)
class DaysField(serializers.ListField):
    child = serializers.IntegerField(min_value=1, max_value=7)


class ScheduleSerializer(WholeObjectMixin, serializers.Serializer):
    timezone = TimeZoneField(help_text="IANA time zone name, e.g. `Europe/Berlin`.")
    days = DaysField(
        allow_empty=False,
        max_length=7,
        help_text="Days of the week to send on, Monday = 1 … Sunday = 7; at least one, no "
        "repeats. Stored in ascending order.",
    )
    start_time = serializers.CharField(validators=[hh_mm], help_text='"HH:MM", 24-hour.')
    end_time = serializers.CharField(
        validators=[hh_mm],
        help_text='"HH:MM", 24-hour, later than `start_time` (same day; 400 otherwise: a rule '
        "between two fields that the schema cannot state).",
    )

    def validate_timezone(self, value: str) -> str:
        if value not in known_timezones():
            raise serializers.ValidationError(f'"{value}" is not an IANA time zone name.')
        return value

    def validate_days(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Days must not repeat.")
        return sorted(value)

    def validate(self, attrs: dict) -> dict:
        if attrs["start_time"] >= attrs["end_time"]:
            raise serializers.ValidationError({"end_time": ["Must be later than start_time."]})
        return attrs


class BodyField(serializers.CharField):
    """Kept as sent, but not whitespace only (validate_body); the schema's `pattern` says so."""

    refuses_whitespace_only = True


class StepSerializer(WholeObjectMixin, serializers.ModelSerializer):
    subject = SingleLineCharField(
        max_length=998,
        allow_blank=True,
        help_text="The Subject header: one line (CR and LF are refused). Required for step 1; "
        "an empty follow-up subject reuses step 1's, prefixed `Re: `.",
    )
    body = BodyField(trim_whitespace=False)
    delay_days = serializers.IntegerField(
        min_value=0, max_value=3650, default=0, help_text="Days to wait after the previous step."
    )

    class Meta:
        model = CampaignStep
        fields = ["subject", "body", "delay_days"]

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class TrackingSerializer(WholeObjectMixin, serializers.Serializer):
    """What the messages carry to observe engagement. Replaced whole: an omitted key is false."""

    opens = serializers.BooleanField(
        default=False,
        help_text="Messages go out as text + HTML with a 1x1 tracking pixel; opens are recorded.",
    )
    clicks = serializers.BooleanField(
        default=False,
        help_text="Links in the body are rewritten through the service; clicks are recorded.",
    )


class SenderAccountIdsField(serializers.ListField):
    child = serializers.UUIDField()

    def get_attribute(self, instance: Campaign) -> list:
        # Reads the prefetched accounts; sorted because the order carries no meaning.
        return sorted((a.pk for a in instance.sender_accounts.all()), key=str)


LeadsByStatusSerializer = type(
    "LeadsByStatusSerializer",
    (serializers.Serializer,),
    {status: serializers.IntegerField() for status in Lead.Status.values},
)


class CampaignStatsSerializer(serializers.Serializer):
    leads_total = serializers.IntegerField()
    leads_by_status = LeadsByStatusSerializer(help_text="Every lead status, zeros included.")
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    replied = serializers.IntegerField()
    bounced = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    open_rate = serializers.FloatField(
        help_text="Leads with at least one open / leads with at least one send; 0 to 1, "
        "4 decimals (a lead opening five times counts once)."
    )
    click_rate = serializers.FloatField(
        help_text="Leads with at least one click / leads with at least one send."
    )
    reply_rate = serializers.FloatField(
        help_text="Leads with at least one reply / leads with at least one send."
    )
    bounce_rate = serializers.FloatField(
        help_text="Leads with a hard bounce / leads with at least one send."
    )


class CampaignSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A campaign. PUT replaces every writable field (omitted ones take their defaults);
    PATCH changes only the fields sent. `status`, `paused_reason`, `id`, timestamps and `stats`
    are read-only: sending them is a 400. `steps` and `sender_account_ids` change only while
    DRAFT or PAUSED; every other field may change in any status (a new `schedule` or
    `daily_limit` applies to the next sends)."""

    read_only_messages = {"status": STATUS_READ_ONLY}

    name = SingleLineCharField(
        min_length=1, max_length=200, help_text="One line: CR and LF are refused."
    )
    sender_account_ids = SenderAccountIdsField(
        default=list,
        max_length=MAX_SENDER_ACCOUNTS,
        help_text="Sender accounts of this workspace, no duplicates. Returned sorted. "
        "Changes only while DRAFT or PAUSED (409 `invalid_state` while ACTIVE or COMPLETED; "
        "sending the current set unchanged is allowed).",
    )
    daily_limit = serializers.IntegerField(min_value=1, max_value=10000, default=50)
    schedule = ScheduleSerializer(default=default_schedule)
    steps = StepSerializer(
        many=True,
        max_length=MAX_STEPS,
        default=list,
        help_text="The emails in order (step 1 first; step 1 needs a subject); a write "
        "replaces the whole list. Changes only while DRAFT or PAUSED (409 `invalid_state` "
        "while ACTIVE or COMPLETED; sending the current steps unchanged is allowed); after a "
        "change each lead goes on with the step after its `current_step`.",
    )
    stop_on_reply = serializers.BooleanField(default=True)
    include_unsubscribe_link = serializers.BooleanField(
        default=True,
        help_text="The body ends with a line carrying the unsubscribe URL. The "
        "`List-Unsubscribe` headers are on every message either way.",
    )
    tracking = TrackingSerializer(default=default_tracking)
    max_bounce_rate = serializers.FloatField(
        min_value=0,
        max_value=1,
        default=0.05,
        help_text="Bounce protection: once at least 20 messages were attempted, a hard-bounce "
        "rate (bounced / attempted) over this pauses the campaign with `paused_reason` "
        '`"bounce_rate"`.',
    )
    status = CampaignStatusField(read_only=True)
    paused_reason = PausedReasonField(
        read_only=True,
        allow_null=True,
        help_text='Why a PAUSED campaign is paused: `"user"` (the pause action) or '
        '`"bounce_rate"` (bounce protection); null in every other status.',
    )
    stats = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "sender_account_ids",
            "daily_limit",
            "schedule",
            "steps",
            "stop_on_reply",
            "include_unsubscribe_link",
            "tracking",
            "max_bounce_rate",
            "paused_reason",
            "created_at",
            "updated_at",
            "stats",
        ]
        read_only_fields = ["id", "status", "paused_reason", "created_at", "updated_at"]

    @extend_schema_field(CampaignStatsSerializer)
    def get_stats(self, campaign: Campaign) -> dict[str, Any]:
        return campaign_stats(campaign)

    def validate_steps(self, value: list) -> list:
        if value and not value[0]["subject"].strip():
            raise serializers.ValidationError({0: {"subject": ["This field may not be blank."]}})
        return value

    def validate_sender_account_ids(self, value: list) -> list:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Sender accounts must not repeat.")
        if not value:
            return value
        found = set(
            SenderAccount.objects.for_workspace(self.context["workspace"])
            .filter(pk__in=value)
            .values_list("pk", flat=True)
        )
        missing = [f"Sender account {i} does not exist." for i in value if i not in found]
        if missing:
            raise serializers.ValidationError(missing)
        return value


class CampaignListItemSerializer(CampaignSerializer):
    """A campaign in a list: everything but `stats` (fetch one campaign for its stats)."""

    stats = None

    class Meta(CampaignSerializer.Meta):
        fields = [f for f in CampaignSerializer.Meta.fields if f != "stats"]


class DateRangeFields:
    """Names the declared `from_field` `from`, a Python keyword."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {"from": fields.pop("from_field"), **fields}


ANALYTICS_MIN_DATE = dt.date(1800, 1, 1)
ANALYTICS_MAX_DATE = dt.date(2999, 12, 31)


class AnalyticsQuerySerializer(DateRangeFields, serializers.Serializer):
    """`?from=&to=` (YYYY-MM-DD, inclusive, days of the campaign's time zone)."""

    # Bounded so that day arithmetic in any time zone stays within Python's dates.
    from_field = serializers.DateField(
        required=False,
        help_text="First day, 1800-01-01 to 2999-12-31; default 29 days before `to`.",
    )
    to = serializers.DateField(
        required=False, help_text="Last day, 1800-01-01 to 2999-12-31; default today."
    )

    def validate(self, attrs: dict) -> dict:
        for name in ("from", "to"):
            if name in attrs and not ANALYTICS_MIN_DATE <= attrs[name] <= ANALYTICS_MAX_DATE:
                raise serializers.ValidationError(
                    {name: [f"Must be between {ANALYTICS_MIN_DATE} and {ANALYTICS_MAX_DATE}."]}
                )
        today = timezone.now().astimezone(campaign_timezone(self.context["campaign"])).date()
        last = attrs.get("to") or today
        first = attrs.get("from") or last - dt.timedelta(days=DEFAULT_ANALYTICS_DAYS - 1)
        if first > last:
            raise serializers.ValidationError({"from": ["Must be on or before `to`."]})
        if (last - first).days + 1 > MAX_ANALYTICS_DAYS:
            raise serializers.ValidationError(
                {"to": [f"The range may cover at most {MAX_ANALYTICS_DAYS} days."]}
            )
        return {"first": first, "last": last}


def _counter_fields() -> dict[str, serializers.Field]:
    return {name: serializers.IntegerField() for name in EVENT_COUNTERS.values()}


AnalyticsCountsSerializer = type(
    "AnalyticsCountsSerializer", (serializers.Serializer,), _counter_fields()
)
AnalyticsDaySerializer = type(
    "AnalyticsDaySerializer",
    (serializers.Serializer,),
    {"date": serializers.DateField(), **_counter_fields()},
)


class AnalyticsRatesSerializer(serializers.Serializer):
    open_rate = serializers.FloatField()
    click_rate = serializers.FloatField()
    reply_rate = serializers.FloatField()
    bounce_rate = serializers.FloatField()


class CampaignAnalyticsSerializer(DateRangeFields, serializers.Serializer):
    """Event counts from `from` to `to` inclusive, by day of the campaign's schedule time zone;
    rates count leads: leads whose first event of the kind falls in the range over leads sent
    to by the end of the range (0 when none), so a lead opening five times counts once."""

    campaign_id = serializers.UUIDField()
    timezone = serializers.CharField()
    from_field = serializers.DateField()
    to = serializers.DateField()
    totals = AnalyticsCountsSerializer()
    rates = AnalyticsRatesSerializer()
    daily = AnalyticsDaySerializer(many=True, help_text="One entry per day, zeros included.")


CAMPAIGN_STATE_FIELDS = {
    "status": CampaignStatusField(help_text="Current status."),
    "allowed": serializers.ListField(
        child=CampaignStatusField(),
        help_text="The states the action is allowed from, sorted.",
    ),
}
ConflictSerializer = conflict_body(
    "Conflict",
    [ErrorCode.INVALID_STATE, ErrorCode.NOT_READY],
    "A 409: the campaign cannot be activated from its current state, or lacks what it needs.",
    **CAMPAIGN_STATE_FIELDS,
    problems=serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="`not_ready` only: what the campaign lacks to be activated.",
    ),
)
StateConflictSerializer = conflict_body(
    "CampaignStateConflict",
    [ErrorCode.INVALID_STATE],
    "A 409: the action is not allowed from the campaign's current state.",
    **CAMPAIGN_STATE_FIELDS,
)
