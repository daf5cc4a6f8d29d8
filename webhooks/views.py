from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from coldsend.core import clock
from webhooks.models import WebhookAttempt, WebhookEndpoint
from webhooks.serializers import (
    ReplayQueuedSerializer,
    ReplaySerializer,
    RotateSecretSerializer,
    WebhookAttemptSerializer,
    WebhookCreateSerializer,
    WebhookLimitReached,
    WebhookSerializer,
    WebhookTestSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
)
from webhooks.services import (
    do_create_webhook,
    do_delete_webhook,
    do_replay,
    do_rotate_secret,
    do_test_webhook,
    do_update_webhook,
)

# Set on an answer that shows a secret, for the Idempotency-Key store: such an answer must be
# kept encrypted or as fingerprint and status only, never in the clear (API.md §3).
SHOWS_SECRET = "shows_secret"


def _showing_secret(response: Response) -> Response:
    setattr(response, SHOWS_SECRET, True)
    return response


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints, newest first",
        description="The workspace's endpoints (at most WEBHOOKS_PER_WORKSPACE, default 20), "
        "without their secrets.",
    ),
    retrieve=extend_schema(
        summary="Retrieve a webhook endpoint",
        description="The endpoint, without its secret (shown by create and rotate_secret only).",
    ),
)
class WebhookViewSet(WorkspaceScopedViewSet):
    """Webhook endpoints (API.md §10): list, create, retrieve, update (PATCH only: PUT answers
    405), delete, and the test, rotate_secret, replay and deliveries actions. Every write goes
    through webhooks.services with the key as the audit trail's actor."""

    scope_resource = "webhooks"
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookSerializer
    parser_classes = [StrictJSONParser]
    delete_may_conflict = False  # nothing stops a delete: no generic 409 in the schema

    def get_serializer_class(self) -> type:
        if self.action == "create":
            return WebhookCreateSerializer
        if self.action == "partial_update":
            return WebhookUpdateSerializer
        return WebhookSerializer

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(WebhookSerializer(self.get_object()).data)

    @extend_schema(
        summary="Create a webhook endpoint",
        description="A new, enabled endpoint and its signing `secret`, shown in this answer "
        "only (stored encrypted): keep it to verify deliveries. Unknown or read-only fields "
        "are refused (400); an invalid request saves nothing.",
        responses={
            201: WebhookWithSecretSerializer,
            409: OpenApiResponse(
                WebhookLimitReached,
                description="`limit_reached`: the workspace already has "
                "WEBHOOKS_PER_WORKSPACE endpoints (default 20); `limit` says how many.",
            ),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = do_create_webhook(
            self.workspace, serializer.validated_data, actor=self.actor
        )
        body = {**WebhookSerializer(endpoint).data, "secret": secret}
        return _showing_secret(Response(body, status=status.HTTP_201_CREATED))

    @extend_schema(
        summary="Update a webhook endpoint",
        description="Only the fields sent change. `enabled: true` re-enables a disabled "
        "endpoint (clearing `disabled_reason`; what it missed is not resent: use replay); "
        "`enabled: false` disables it by hand. Read-only or unknown fields are refused (400); "
        "an invalid request changes nothing. The secret stays (use rotate_secret).",
        responses={200: WebhookSerializer},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = do_update_webhook(endpoint, serializer.validated_data, actor=self.actor)
        return Response(WebhookSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint",
        description="The endpoint, its pending deliveries and its delivery log go; events "
        "stay in `GET events`.",
        responses={204: None},
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        do_delete_webhook(self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test event",
        description="POSTs a `webhook.test` event to this endpoint alone, now, signed like any "
        "delivery (also when the endpoint is disabled), never retried, and answers within 15 "
        "seconds whatever the endpoint does: its HTTP status, or `status_code` null and the "
        "`error` when it did not answer. The attempt shows in `deliveries`; the event in "
        "`GET events`.",
        request=None,
        responses={200: WebhookTestSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="update")
    def test(self, request: Request, pk: str | None = None) -> Response:
        result = do_test_webhook(self.get_object(), actor=self.actor)
        return Response(WebhookTestSerializer(result).data)

    @extend_schema(
        summary="Rotate the signing secret",
        description="A new `secret`, shown in this answer only. Until the previous one "
        "expires (`expire_previous_in_seconds`, default 86400, at most 86400) every delivery "
        "carries both signatures, space-separated in `webhook-signature`, so receivers can "
        "switch without dropping one; 0 stops the previous secret at once (for a leaked one). "
        "An empty body takes the default.",
        request=RotateSecretSerializer,
        responses={200: WebhookWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="update")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        serializer = RotateSecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = do_rotate_secret(
            endpoint,
            expire_previous_in_seconds=serializer.validated_data["expire_previous_in_seconds"],
            actor=self.actor,
        )
        body = {**WebhookSerializer(endpoint).data, "secret": secret}
        return _showing_secret(Response(body))

    @extend_schema(
        summary="Replay stored events",
        description="Queues every stored event from `since` to `until` (both inclusive; "
        "`until` defaults to now) that the endpoint subscribes to, delivered again even if it "
        "was delivered before (receivers dedupe on `webhook-id`). Answers 202 with how many "
        "were queued; delivery follows as for any event (a disabled endpoint gets them once "
        "re-enabled).",
        request=ReplaySerializer,
        responses={202: ReplayQueuedSerializer},
    )
    @action(detail=True, methods=["post"], scope_action="update")
    def replay(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queued = do_replay(
            endpoint,
            since=serializer.validated_data["since"],
            until=serializer.validated_data.get("until"),
            actor=self.actor,
        )
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The endpoint's delivery attempts",
        description="Every POST to this endpoint (deliveries, retries and tests) of the last "
        "EVENTS_RETENTION_DAYS (default 30), newest first, cursor-paginated.",
        responses=WebhookAttemptSerializer(many=True),
    )
    @action(detail=True, methods=["get"], scope_action="read")
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        page = self.paginate_queryset(self._attempts(self.get_object()))
        return self.get_paginated_response(WebhookAttemptSerializer(page, many=True).data)

    @staticmethod
    def _attempts(endpoint: WebhookEndpoint) -> QuerySet:
        kept_from = clock.now() - timedelta(days=settings.EVENTS_RETENTION_DAYS)
        return WebhookAttempt.objects.filter(endpoint=endpoint, attempted_at__gte=kept_from)
