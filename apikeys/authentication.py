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


def _looked_up(request: HttpRequest) -> tuple[APIKey | None, str | None]:
    """(key, refusal reason) of the request, looked up at most once per request (middleware and
    the DRF authentication share it). A malformed key is refused without a query."""
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
    return getattr(request, _LOOKUP)


def request_key(request: HttpRequest) -> APIKey | None:
    """The request's valid API key, or None (absent or refused: the view answers the 401).
    May query the database, once per request."""
    return _looked_up(request)[0]


def request_key_cached(request: HttpRequest) -> APIKey | None:
    """The key this request was already authenticated with, if it was; never queries."""
    return getattr(request, _LOOKUP, (None, None))[0]


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the APIKey. A malformed key is refused before any query."""

    def authenticate(self, request: Request) -> tuple[None, APIKey] | None:
        key, reason = _looked_up(request._request)
        if reason is not None:
            raise AuthenticationFailed(reason)
        return None if key is None else (None, key)

    def authenticate_header(self, request: Request) -> str:
        return AUTH_SCHEME
