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


_LOOKUP = "_api_key_lookup"


def key_for_request(request: HttpRequest) -> APIKey | None:
    """The request's API key, looked up at most once per request (middleware and the DRF
    authentication share it): None when no key is presented, AuthenticationFailed with the
    client-facing reason when one is malformed (no query), unknown, revoked or expired."""
    if not hasattr(request, _LOOKUP):
        key, reason = None, None
        try:
            raw = presented_key(request)
            if raw is not None and not keys.is_well_formed(raw):
                reason = INVALID_KEY
            elif raw is not None:
                key = APIKey.objects.authenticate(raw)
        except AuthenticationFailed:
            reason = INVALID_KEY
        except KeyRejected as rejected:
            reason = rejected.reason
        setattr(request, _LOOKUP, (key, reason))
    key, reason = getattr(request, _LOOKUP)
    if reason is not None:
        raise AuthenticationFailed(reason)
    return key


def remembered_key(request: HttpRequest) -> APIKey | None:
    """The key this request was authenticated with, if it was; never looks anything up."""
    return getattr(request, _LOOKUP, (None, None))[0]


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the APIKey. A malformed key is refused before any query."""

    def authenticate(self, request: Request) -> tuple[None, APIKey] | None:
        key = key_for_request(request._request)
        return None if key is None else (None, key)

    def authenticate_header(self, request: Request) -> str:
        return AUTH_SCHEME
