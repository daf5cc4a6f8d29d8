import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apikeys.models import APIKey
from apikeys.permissions import MissingScopes, required_scopes
from apikeys.scopes import missing_scopes
from campaigns.models import Campaign
from campaigns.preview_serializers import (
    CampaignPreviewSerializer,
    CampaignTestSendSerializer,
    StepPreviewSerializer,
    StepTestSendSerializer,
    TestSendConflictSerializer,
)
from campaigns.serializers import (
    AnalyticsQuerySerializer,
    CampaignAnalyticsSerializer,
    CampaignListItemSerializer,
    CampaignSerializer,
    ConflictSerializer,
    StateConflictSerializer,
)
from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from coldsend.core.errors import Invalid
from delivery import actions, previews
from engagement.selectors import campaign_analytics
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.slots import NoSlot

# A date in the years analytics accept (1800-2999), as the schema can state it.
ANALYTICS_DATE = {"type": "string", "format": "date", "pattern": r"^(18|19|2\d)\d\d-\d\d-\d\d$"}
# Rendering a real lead (preview, test send) needs this besides the operation's own scope.
LEAD_SCOPE = "leads:read"
RENDERS_LEADS = ("preview", "test")


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices)

    class Meta:
        model = Campaign
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns",
        description="Newest first. Items carry everything but `stats`, so a page costs the "
        "same whatever the campaigns hold; fetch one campaign for its stats.",
    ),
    create=extend_schema(summary="Create a campaign", description="Created in status DRAFT."),
    retrieve=extend_schema(summary="Retrieve a campaign, with its stats"),
    update=extend_schema(
        summary="Replace a campaign",
        description="Every writable field is replaced; omitted ones take their defaults. "
        "`status` and `paused_reason` cannot be changed here (400): use activate and pause. "
        "`steps` and `sender_account_ids` change only while DRAFT or PAUSED: a different value "
        "while ACTIVE or COMPLETED is a 409 `invalid_state` naming the `status` and the "
        "`allowed` states, and nothing changes (the current value sent again is fine). Every "
        "other field may change in any status; a new `schedule` or `daily_limit` applies to the "
        "next sends at once.",
        responses={200: CampaignSerializer, 409: StateConflictSerializer},
    ),
    partial_update=extend_schema(
        summary="Update a campaign",
        description="Only the fields sent change; `schedule`, `tracking` and `steps` are "
        "replaced whole. `status` and `paused_reason` cannot be changed here (400): use "
        "activate and pause. `steps` and `sender_account_ids` change only while DRAFT or "
        "PAUSED: a different value while ACTIVE or COMPLETED is a 409 `invalid_state` naming "
        "the `status` and the `allowed` states, and nothing changes (the current value sent "
        "again is fine). Every other field may change in any status; a new `schedule` or "
        "`daily_limit` applies to the next sends at once.",
        responses={200: CampaignSerializer, 409: StateConflictSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a campaign",
        description="Allowed in DRAFT or PAUSED (else 409 `invalid_state`); its steps, leads "
        "and events are deleted with it.",
        responses={204: None, 409: StateConflictSerializer},
    ),
)
class CampaignViewSet(
    WorkspaceScopedViewSet,  # first: its perform_create (the create service) wins over the mixin's
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    scope_resource = "campaigns"
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    # JSON only: a form would flatten `schedule` and `steps`, which were then silently dropped.
    parser_classes = [StrictJSONParser]
    create_service = actions.do_create_campaign

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            queryset = queryset.prefetch_related(
                "steps", Prefetch("sender_accounts", queryset=SenderAccount.objects.only("pk"))
            )
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer]:
        return CampaignListItemSerializer if self.action == "list" else CampaignSerializer

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = actions.do_update_campaign(
            serializer.instance, serializer.validated_data, actor=self.actor
        )

    def perform_destroy(self, instance: Campaign) -> None:
        actions.do_delete_campaign(instance, actor=self.actor)

    @extend_schema(
        summary="Pause a campaign",
        description='ACTIVE → PAUSED, with `paused_reason` `"user"`. Immediate: once this has '
        "answered, no new SMTP transaction starts for the campaign, and its leads' "
        "`next_send_at` are null until it is activated again (it then resumes where it "
        "stopped). Already PAUSED: 200, nothing changes (a bounce-protection pause keeps "
        '`paused_reason` `"bounce_rate"`). Otherwise 409 `invalid_state` naming the current '
        "`status` and the `allowed` states.",
        request=None,
        responses={200: CampaignSerializer, 409: StateConflictSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="pause")
    def pause(self, request: Request, pk: str | None = None) -> Response:
        campaign = actions.do_pause_campaign(self.get_object(), actor=self.actor)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(
        summary="Activate a campaign",
        description="DRAFT or PAUSED → ACTIVE (`paused_reason` null): the campaign starts "
        "sending, and each lead with something left to send gets its `next_send_at`. "
        "Already ACTIVE: 200, nothing changes. Otherwise 409 `invalid_state`; without a "
        "sender account or a step, 409 `not_ready` with the `problems` listed. A campaign "
        "with leads, none of which has anything left to send, is COMPLETED at once: the "
        "answer then says COMPLETED.",
        request=None,
        responses={200: CampaignSerializer, 409: ConflictSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="activate")
    def activate(self, request: Request, pk: str | None = None) -> Response:
        campaign = actions.do_activate_campaign(self.get_object(), actor=self.actor)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(
        summary="Campaign analytics",
        parameters=[
            OpenApiParameter(
                "from",
                ANALYTICS_DATE,
                description="First day, YYYY-MM-DD, 1800-01-01 to 2999-12-31 (default: `to` "
                "minus 29 days). On or before `to` (400 otherwise).",
            ),
            OpenApiParameter(
                "to",
                ANALYTICS_DATE,
                description="Last day, YYYY-MM-DD, inclusive, 1800-01-01 to 2999-12-31 (default: "
                "today in the campaign's time zone). At most 366 days from `from` to `to` (400 "
                "otherwise: a rule between two parameters that the schema cannot state).",
            ),
        ],
        responses=CampaignAnalyticsSerializer,
    )
    @action(detail=True, methods=["get"], scope_action="read", pagination_class=None)
    def analytics(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        query = AnalyticsQuerySerializer(data=request.query_params, context={"campaign": campaign})
        query.is_valid(raise_exception=True)
        report = campaign_analytics(campaign, **query.validated_data)
        return Response(CampaignAnalyticsSerializer(report).data)

    # Preview and test send (API.md §7). Rendering a real lead needs `leads:read` as well: named
    # with the operation's own scope in one 403, before the 404 when the body names a lead.

    def check_permissions(self, request: Request) -> None:
        self._body_error: APIException | None = None
        renders = self.action in RENDERS_LEADS and isinstance(request.auth, APIKey)
        if renders and self._names_a_lead(request):
            self.required_scopes = [*required_scopes(self), LEAD_SCOPE]
        super().check_permissions(request)

    def _names_a_lead(self, request: Request) -> bool:
        """Whether the body has a `lead_id` (whatever its value). A body that cannot be read
        names none; its 400 or 415 comes after the key's scopes (`_body`)."""
        try:
            data = request.data
        except APIException as exc:
            self._body_error = exc
            return False
        return isinstance(data, Mapping) and "lead_id" in data

    def _body(self, request: Request) -> Any:
        if self._body_error is not None:
            raise self._body_error
        return request.data

    def _require_lead_scope(self, request: Request) -> None:
        key = request.auth
        required = list(dict.fromkeys([*required_scopes(self), LEAD_SCOPE]))
        missing = missing_scopes(key.scopes, required)
        if missing:
            raise MissingScopes(required, key.scopes, missing)
        key.record_usage(required, timedelta(seconds=settings.API_KEY_USAGE_WRITE_INTERVAL))

    @staticmethod
    def _lead_of(campaign: Campaign, data: Mapping, errors: dict) -> Lead | None:
        """The lead `lead_id` names, when it is one of the campaign's (else an error on it)."""
        if "lead_id" not in data:
            return None
        lead = Lead.objects.filter(pk=data["lead_id"], campaign_id=campaign.pk).first()
        if lead is None:
            errors["lead_id"] = [previews.LEAD_NOT_IN_CAMPAIGN]
        return lead

    @extend_schema(
        summary="Preview a step",
        description="The step rendered exactly as it would be sent to a lead: `lead_id`, or "
        "the campaign's oldest lead when omitted, or a lead with empty fields when the campaign "
        "has none (placeholders then render their fallbacks). Rendering a real lead needs "
        "`leads:read` as well as `campaigns:read` (a 403 naming both otherwise; when the body "
        "has a `lead_id`, before any 404). The sender shown is the account the lead's thread "
        "is pinned to, else the first ACTIVE one of `sender_account_ids`. An empty follow-up "
        "subject is step 1's, prefixed `Re: `; the body ends with the unsubscribe line when "
        "`include_unsubscribe_link` is on and has `/c/` links when `tracking.clicks` is on. "
        "`unknown_placeholders` and `invalid_placeholders` cover all the campaign's steps. "
        "Sends nothing and changes nothing; the preview's links record nothing.",
        request=StepPreviewSerializer,
        responses={200: CampaignPreviewSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="read")
    def preview(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        data = self._body(request)
        names_a_lead = isinstance(data, Mapping) and "lead_id" in data
        oldest = None if names_a_lead else previews.oldest_lead(campaign)
        if oldest is not None:
            self._require_lead_scope(request)
        serializer = StepPreviewSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values, errors = serializer.validated_data, {}
        lead = self._lead_of(campaign, values, errors) or oldest
        if (problem := previews.step_problem(campaign.steps.count(), values["step"])) is not None:
            errors["step"] = [problem]
        if errors:
            raise Invalid(errors)
        result = previews.preview(campaign, values["step"], lead)
        return Response(CampaignPreviewSerializer(result).data)

    @extend_schema(
        summary="Send a test of a step",
        description="Sends the step once, now, to `to`, its subject prefixed `[Test] `, from "
        "the first ACTIVE account of `sender_account_ids`, outside the campaign's window and "
        "the account's gap; rendered for `lead_id` (which needs `leads:read` too) or, when "
        "omitted, for a lead with empty fields. It counts in that account's daily limit (not "
        "in the campaign's): an account at its limit answers `sent: false`, as does an address "
        "suppressed in the workspace. Answers when the SMTP transaction is over, within 15 "
        "seconds (CONNECTION_CHECK_SECONDS): 200 whether the server accepted it or not, its "
        "refusal or the account's trouble in `error` (the account's status is not changed). "
        "No lead, message, event or stat changes; the test's unsubscribe and tracking links "
        "record nothing (they answer as an unknown token does). Audited as "
        "`campaign.test_sent`.",
        request=StepTestSendSerializer,
        responses={
            200: CampaignTestSendSerializer,
            409: OpenApiResponse(
                TestSendConflictSerializer,
                description="`not_ready`: no ACTIVE sender account, with the `problems`.",
            ),
            429: OpenApiResponse(
                description="Already CONNECTION_CHECKS_PER_WORKSPACE (2) checks or test sends "
                "running in the workspace; `Retry-After` says when to try again."
            ),
        },
    )
    @action(detail=True, methods=["post"], scope_action="update")
    def test(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        serializer = StepTestSendSerializer(data=self._body(request))
        serializer.is_valid(raise_exception=True)
        values, errors = serializer.validated_data, {}
        lead = self._lead_of(campaign, values, errors)
        try:
            steps = previews.steps_of(campaign)
            previews.check_test(campaign, steps, values["step"], lead, values["to"])
        except Invalid as exc:
            errors = {**exc.errors, **errors}
        if errors:
            raise Invalid(errors)
        try:
            result = actions.do_test_send(
                campaign, step=values["step"], to=values["to"], lead=lead, actor=self.actor
            )
        except NoSlot:
            raise Throttled(wait=math.ceil(settings.CONNECTION_CHECK_SECONDS)) from None
        return Response(CampaignTestSendSerializer(result).data)
