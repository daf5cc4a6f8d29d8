import math

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.services import delete_sender_account
from coldsend.api.fields import conflict_body
from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from coldsend.core.errors import ErrorCode
from delivery.actions import do_update_sender_account
from delivery.api_selectors import sender_account_stats
from inbound.checks import do_check_sender_account
from inbound.selectors import inbox_status
from sender_accounts.models import SenderAccount
from sender_accounts.serializers import (
    SENDER_ACCOUNT_REQUEST,
    SenderAccountCheckSerializer,
    SenderAccountDetailSerializer,
    SenderAccountSerializer,
    SenderAccountUpdateSerializer,
    StatusField,
)
from sender_accounts.services import create_sender_account
from workspaces.slots import NoSlot

IN_USE = conflict_body(
    "SenderAccountInUse",
    ["in_use"],
    campaigns=serializers.ListField(
        child=serializers.UUIDField(), help_text="The ACTIVE campaigns using the account."
    ),
)
STATE_CONFLICT = conflict_body(
    "SenderAccountStateConflict",
    [ErrorCode.INVALID_STATE],
    "A 409: the change is not allowed from the account's current status.",
    status=StatusField(help_text="Current status."),
    allowed=serializers.ListField(
        child=StatusField(), help_text="The statuses the change is allowed from, sorted."
    ),
)


class SenderAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """Sender accounts: list, create, retrieve, update (PATCH only: PUT answers 405; `type` and
    `email` are fixed) and delete."""

    scope_resource = "sender_accounts"
    # The API never needs the passwords, so they are never loaded (nor decrypted) here.
    queryset = SenderAccount.objects.defer("smtp_password", "imap_password")
    serializer_class = SenderAccountSerializer
    parser_classes = [StrictJSONParser]
    create_service = create_sender_account

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.action == "retrieve":
            return SenderAccountDetailSerializer
        if self.action == "partial_update":
            return SenderAccountUpdateSerializer
        return SenderAccountSerializer

    def list(self, request: Request) -> Response:
        """The workspace's sender accounts, newest first. List items carry no `stats`
        (retrieve an account for them), so a page costs the same whatever the accounts sent."""
        return super().list(request)

    @extend_schema(request=SENDER_ACCOUNT_REQUEST, responses={201: SenderAccountDetailSerializer})
    def create(self, request: Request) -> Response:
        """Connect a sender account. SMTP accounts need the `smtp` block; NATIVE accounts send
        through the service's own mail settings and refuse it. The SMTP host must be a public
        address unless the server allows private hosts (SMTP_ALLOW_PRIVATE_HOSTS). The SMTP
        password is encrypted at rest and never returned. Unknown or read-only fields are
        refused (400); an invalid request saves nothing."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(self.detail_data(serializer.instance), status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str) -> Response:
        """One sender account with its sending `stats`; `sent_today` counts the SMTP attempts
        of the last 24 hours (rolling), what its `daily_limit` caps."""
        return Response(self.detail_data(self.get_object()))

    @extend_schema(
        responses={
            200: SenderAccountDetailSerializer,
            409: OpenApiResponse(
                STATE_CONFLICT, description="`invalid_state`: ACTIVE on an account in ERROR."
            ),
        }
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change a sender account: only the fields sent (`display_name`, `daily_limit`, the
        intervals, `status`, `smtp`, `imap`); `type` and `email` are fixed (400). `smtp` and
        `imap` are replaced as a whole: a left-out password keeps the stored one only when host,
        port, security and username stay the same (otherwise 400: a new server gets the
        password again, never the stored one); an SMTP block without username and password
        means no AUTH; `"imap": null` removes inbox reading. `status` takes ACTIVE or DISABLED;
        ACTIVE on an account in ERROR is a 409 `invalid_state` (check it instead). A new limit,
        gap or status moves the next sends at once. Unknown or read-only fields are refused
        (400); an invalid request changes nothing. Answers the account as `GET` does."""
        account = self.get_object()
        serializer = self.get_serializer(account, data=request.data)
        serializer.is_valid(raise_exception=True)
        account = do_update_sender_account(account, serializer.validated_data, actor=self.actor)
        return Response(self.detail_data(account))

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: OpenApiResponse(IN_USE, description="`in_use`: an ACTIVE campaign uses it."),
        }
    )
    def destroy(self, request: Request, pk: str) -> Response:
        """Delete a sender account. Refused with 409 `in_use` (listing the `campaigns`) while an
        ACTIVE campaign uses it; DRAFT, PAUSED and COMPLETED campaigns simply lose it. Its
        sending history stays in the campaigns' stats."""
        delete_sender_account(self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Check a sender account's connection",
        request=None,
        responses={
            200: SenderAccountCheckSerializer,
            429: OpenApiResponse(
                description="Already CONNECTION_CHECKS_PER_WORKSPACE (2) checks or test sends "
                "running in the workspace; `Retry-After` says when to try again."
            ),
        },
    )
    @action(detail=True, methods=["post"], scope_action="update")
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Connect now and send nothing: SMTP (connect, TLS, login) and, when the account reads
        an inbox, IMAP (login), at once, giving up after 15 seconds (CONNECTION_CHECK_SECONDS).
        Answers 200 whatever the outcome. A passing SMTP check takes an account out of ERROR
        (ACTIVE, its waiting leads due at once); a failing one puts an ACTIVE account in ERROR
        with `last_error`; a DISABLED account stays DISABLED. An IMAP failure shows in `imap`
        only and never stops sending. A NATIVE account checks the service's outgoing mail
        setting (EMAIL_URL; the console backend passes). At most 2 checks or test sends run at
        once per workspace: 429 beyond."""
        account = self.get_object()
        try:
            result = do_check_sender_account(account)
        except NoSlot:
            raise Throttled(wait=math.ceil(settings.CONNECTION_CHECK_SECONDS)) from None
        return Response(SenderAccountCheckSerializer(result).data)

    def detail_data(self, account: SenderAccount) -> dict:
        account.stats = sender_account_stats(account)
        account.inbox = inbox_status(account)
        return SenderAccountDetailSerializer(account, context=self.get_serializer_context()).data
