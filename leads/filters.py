from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from leads.emails import normalize_email
from leads.models import Lead


class NormalizedEmailField(forms.CharField):
    def to_python(self, value: str | None) -> str:
        value = super().to_python(value)
        return normalize_email(value) if value else value


@extend_schema_field(OpenApiTypes.EMAIL)
class NormalizedEmailFilter(filters.CharFilter):
    field_class = NormalizedEmailField


class LeadFilter(filters.FilterSet):
    campaign_id = filters.UUIDFilter(
        field_name="campaign_id",
        help_text="Only this campaign's leads (another workspace's campaign matches nothing).",
    )
    status = filters.ChoiceFilter(choices=Lead.Status.choices, help_text="Exact status.")
    email = NormalizedEmailFilter(
        field_name="email",
        help_text="Exact address, compared trimmed and lower-cased as stored; "
        "not a substring search, so an invalid address is a 400.",
    )

    class Meta:
        model = Lead
        fields = ["campaign_id", "status", "email"]
