from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apikeys import keys
from apikeys.models import INVALID_KEY, APIKey, KeyRejected

HEADER = "X-API-Key"
AUTH_SCHEME = "ApiKey"


def presented_key(request: HttpRequest) -> str | None:
    """The key from `X-API-Key` or `Authorization: Bearer`; refused if both are sent and differ."""
    header_key = request.headers.get(HEADER, "").strip() or None
    bearer_key = None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        bearer_key = credentials.strip() or None
    if header_key and bearer_key and header_key != bearer_key:
        raise AuthenticationFailed(INVALID_KEY)
    return header_key or bearer_key


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the APIKey. A malformed key is refused before any query."""

    def authenticate(self, request: Request) -> tuple[None, APIKey] | None:
        raw = presented_key(request)
        if raw is None:
            return None
        if not keys.is_well_formed(raw):
            raise AuthenticationFailed(INVALID_KEY)
        django_request = request._request
        key = getattr(django_request, "authenticated_key", None)
        if key is None:  # not yet looked up by the idempotency middleware
            try:
                key = APIKey.objects.authenticate(raw)
            except KeyRejected as rejected:
                raise AuthenticationFailed(rejected.reason) from None
        django_request.authenticated_key = key  # for the request log
        return None, key

    def authenticate_header(self, request: Request) -> str:
        return AUTH_SCHEME
