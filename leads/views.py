from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from coldsend.api.pagination import OldestFirstCursorPagination
from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from delivery import actions
from delivery.api_selectors import lead_messages
from engagement.selectors import attach_engagement
from leads.filters import LeadFilter
from leads.models import Lead
from leads.serializers import (
    LeadDuplicateSerializer,
    LeadMessageSerializer,
    LeadSerializer,
    LeadStateConflictSerializer,
)


@extend_schema_view(
    list=extend_schema(summary="List leads, newest first"),
    create=extend_schema(
        summary="Create one lead",
        description="The lead starts PENDING, or UNSUBSCRIBED / BOUNCED when its address is "
        "suppressed in the workspace (it then is never contacted). In an ACTIVE campaign it "
        "gets its `next_send_at` at once; a COMPLETED campaign becomes ACTIVE again. Body "
        "fields not listed here are refused (400).",
        responses={
            201: LeadSerializer,
            400: OpenApiResponse(description="Invalid input: `{field: [messages]}`."),
            409: OpenApiResponse(
                LeadDuplicateSerializer,
                description="`duplicate`: the email (compared lower-cased) is already in "
                "this campaign; `lead_id` names the existing lead.",
            ),
        },
    ),
    retrieve=extend_schema(summary="Get a lead with its engagement"),
    destroy=extend_schema(
        summary="Delete a PENDING lead",
        responses={
            204: None,
            409: OpenApiResponse(
                LeadStateConflictSerializer,
                description="`invalid_state`: the lead is no longer PENDING.",
            ),
        },
    ),
)
class LeadViewSet(WorkspaceScopedViewSet):
    """Leads of the key's workspace. There is no update: PUT and PATCH answer 405."""

    scope_resource = "leads"
    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    # JSON only: a form cannot carry the `custom_fields` object (CSV files go to leads/import).
    parser_classes = [StrictJSONParser]
    create_service = actions.do_add_lead

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        attach_engagement(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(
            self.get_serializer(serializer.instance).data, status=status.HTTP_201_CREATED
        )

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        lead = self.get_object()
        attach_engagement([lead])
        return Response(self.get_serializer(lead).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        actions.do_remove_lead(self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="What was sent to a lead",
        description="The messages sent or attempted for this lead, **oldest first** (step "
        "order), cursor-paginated like every list. A step not attempted yet is not listed.",
        responses=LeadMessageSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        scope_action="read",
        pagination_class=OldestFirstCursorPagination,
        filterset_class=None,
    )
    def messages(self, request: Request, pk: str | None = None) -> Response:
        page = self.paginate_queryset(lead_messages(self.get_object()))
        return self.get_paginated_response(LeadMessageSerializer(page, many=True).data)
