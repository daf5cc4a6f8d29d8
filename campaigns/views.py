import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from campaigns.models import Campaign
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
from delivery import actions
from engagement.selectors import campaign_analytics
from sender_accounts.models import SenderAccount

# A date in the years analytics accept (1800-2999), as the schema can state it.
ANALYTICS_DATE = {"type": "string", "format": "date", "pattern": r"^(18|19|2\d)\d\d-\d\d-\d\d$"}


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
