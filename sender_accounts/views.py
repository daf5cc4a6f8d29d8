from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.services import delete_sender_account
from coldsend.api.fields import conflict_body
from coldsend.api.parsers import StrictJSONParser
from coldsend.api.viewsets import WorkspaceScopedViewSet
from delivery.api_selectors import sender_account_stats
from inbound.selectors import inbox_status
from sender_accounts.models import SenderAccount
from sender_accounts.serializers import (
    SENDER_ACCOUNT_REQUEST,
    SenderAccountDetailSerializer,
    SenderAccountSerializer,
)
from sender_accounts.services import create_sender_account

IN_USE = conflict_body(
    "SenderAccountInUse",
    ["in_use"],
    campaigns=serializers.ListField(
        child=serializers.UUIDField(), help_text="The ACTIVE campaigns using the account."
    ),
)


class SenderAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """Sender accounts cannot be updated (PUT and PATCH answer 405): delete and create again."""

    scope_resource = "sender_accounts"
    # The API never needs the passwords, so they are never loaded (nor decrypted) here.
    queryset = SenderAccount.objects.defer("smtp_password", "imap_password")
    serializer_class = SenderAccountSerializer
    parser_classes = [StrictJSONParser]
    create_service = create_sender_account

    def get_serializer_class(self) -> type[SenderAccountSerializer]:
        if self.action == "retrieve":
            return SenderAccountDetailSerializer
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

    def detail_data(self, account: SenderAccount) -> dict:
        account.stats = sender_account_stats(account)
        account.inbox = inbox_status(account)
        return SenderAccountDetailSerializer(account, context=self.get_serializer_context()).data
