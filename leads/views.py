from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from coldsend.api.pagination import SortKeyCursorPagination
from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from delivery import actions
from delivery.api_selectors import OUTBOUND, ConversationItem, lead_messages
from engagement.selectors import attach_engagement
from leads.filters import LeadFilter
from leads.models import Lead
from leads.serializers import (
    CONVERSATION_ITEMS,
    LeadDuplicateSerializer,
    LeadReplyConflictSerializer,
    LeadReplySerializer,
    LeadSerializer,
    LeadStateConflictSerializer,
    OutboundMessageSerializer,
    conversation_item,
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
        summary="A lead's conversation, sent and received",
        description="What was sent to the lead (campaign steps sent or attempted, answers "
        "written with `POST leads/{id}/reply`) and what came in for it (replies, automatic "
        "answers, bounce reports), together, **oldest first** by `at`: an outbound message "
        "when sent, or when last attempted or queued if not yet; an inbound one when the "
        "mailbox received it. At the same `at`, outbound first, then by `id`. A step not "
        "attempted yet is not listed. Each item is an `OutboundMessage` or an "
        "`InboundMessage`, told apart by `direction`. Cursor-paginated like every list: the "
        "cursor holds the last item's position, so pages are stable while messages come in.",
        responses=CONVERSATION_ITEMS,
    )
    @action(
        detail=True,
        methods=["get"],
        scope_action="read",
        pagination_class=SortKeyCursorPagination,
        filterset_class=None,
    )
    def messages(self, request: Request, pk: str | None = None) -> Response:
        items = lead_messages(self.get_object())
        page = self.paginator.paginate_items(items, request, view=self)
        return self.get_paginated_response([conversation_item(item) for item in page])

    @extend_schema(
        summary="Answer a lead in its thread",
        description="Queues a plain-text answer to the lead, sent in its thread whatever the "
        "campaign's status, from the account that sent the lead's steps: `In-Reply-To` the "
        "lead's latest inbound REPLY (else our latest outbound message), `References` that "
        "message's `References` plus its id. No unsubscribe line or header, no tracking. A "
        "worker sends it within about 10 seconds, outside the campaign's window and gap; it "
        "counts in the account's daily limit and `sent_total`, never in the campaign's stats, "
        "rates or limit, and never changes the lead's status or sequence. While the account "
        "is in ERROR or at its daily limit it stays QUEUED. Answers 202 with the outbound "
        "item (`status` QUEUED); `GET leads/{id}/messages` shows it SENT or FAILED later, and "
        '`message.sent` / `message.failed` events carry `message_kind: "ANSWER"`. Audited '
        "as `lead.answered`.",
        request=LeadReplySerializer,
        responses={
            202: OutboundMessageSerializer,
            409: OpenApiResponse(
                LeadReplyConflictSerializer,
                description="`invalid_state`: the lead was never contacted (no thread to answer "
                "in), with its `status`. `suppressed`: its address is suppressed in the "
                "workspace (it unsubscribed or bounced). `not_ready`: the sender account of its "
                "thread is deleted or DISABLED, with the `problems`.",
            ),
        },
    )
    @action(detail=True, methods=["post"], scope_action="reply", filterset_class=None)
    def reply(self, request: Request, pk: str | None = None) -> Response:
        lead = self.get_object()
        serializer = LeadReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = actions.do_reply(
            lead,
            body=serializer.validated_data["body"],
            subject=serializer.validated_data.get("subject"),
            actor=self.actor,
        )
        item = ConversationItem(answer.queued_at, OUTBOUND, answer.pk, answer)
        return Response(conversation_item(item), status=status.HTTP_202_ACCEPTED)
