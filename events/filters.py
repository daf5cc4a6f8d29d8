"""`GET events` filters (API.md §10). Each refuses what it cannot read (an unknown type, a
malformed id or time) with a 400 naming the parameter, never an empty page that looks like
"nothing happened"."""

from datetime import UTC, datetime

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, MultipleChoiceField

from events.models import Event
from events.types import EVENT_TYPES

OUT_OF_RANGE = "Datetime value out of range."


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, in UTC: a time whose offset would take it past the year 1 or 9999 is a
    400, not a server error when the database adapter converts it."""

    def to_python(self, value: str | None) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(OUT_OF_RANGE, code="overflow") from None


class UTCDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class TypesField(MultipleChoiceField):
    """Repeated `?type=`; an empty one is absent, as for every filter of the API (`?type=`
    alone filters nothing)."""

    def clean(self, value: list[str] | None) -> list[str]:
        return super().clean([v for v in value or [] if v])


class TypesFilter(filters.MultipleChoiceFilter):
    field_class = TypesField


class EventFilter(filters.FilterSet):
    type = TypesFilter(
        choices=[(name, when) for name, (when, _) in EVENT_TYPES.items()],
        method="filter_type",
        help_text="Only events of this type; repeat it for several (`?type=a&type=b`: either). "
        "An unknown type is a 400.",
    )
    campaign_id = filters.UUIDFilter(
        field_name="campaign_id",
        help_text="Only events about this campaign (another workspace's campaign matches "
        "nothing). Events outlive what they name: a deleted campaign's events stay.",
    )
    lead_id = filters.UUIDFilter(field_name="lead_id", help_text="Only events about this lead.")
    created_after = UTCDateTimeFilter(
        field_name="created_at",
        lookup_expr="gt",
        help_text="Only events created strictly after this ISO 8601 time. `created_at` is "
        "taken inside the change's transaction, which may commit a little later: a poller asks "
        "from its last seen `created_at` minus 60 seconds and drops ids it has seen.",
    )

    class Meta:
        model = Event
        fields = ["type", "campaign_id", "lead_id", "created_after"]

    def filter_type(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Any of the types given (one IN, no DISTINCT: an event has one type)."""
        return queryset.filter(type__in=value) if value else queryset
