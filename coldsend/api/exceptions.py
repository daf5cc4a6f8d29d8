"""One place that gives every error its shape (API.md §3)."""

import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from apikeys.models import APIKey
from apikeys.permissions import MissingScopes
from coldsend.api import throttling
from coldsend.api.cache_outage import CACHE_ERRORS, cache_unavailable
from coldsend.api.idempotency import StoredAnswer


class Conflict(Exception):
    """A state rule or uniqueness rule broken: answered 409 with `detail`, `code` and `extra`."""

    def __init__(self, detail: str, code: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.extra = extra


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "too_large"


def api_exception_handler(exc: Exception, context: dict) -> HttpResponse | None:
    request = context.get("request")
    if isinstance(exc, StoredAnswer):  # an idempotent retry, past the key's checks and limit
        return exc.response
    if isinstance(exc, CACHE_ERRORS) and request is not None:
        return cache_unavailable(request._request, exc)
    if isinstance(exc, Conflict):
        return Response(
            {"detail": exc.detail, "code": exc.code, **exc.extra}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, RecursionError):  # DRF's JSON parser lets it through
        exc = exceptions.ParseError("JSON parse error - nested too deeply.")
    if isinstance(exc, Http404):  # DRF would keep Django's "No Campaign matches …" text
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django logs it and answers with handler500's JSON, never a trace
    if request is not None and isinstance(request.auth, APIKey):
        throttling.peek(request._request, request.auth, context.get("view"))
    if isinstance(exc, MissingScopes):
        response.data = {"detail": exc.detail, "required": exc.required, "granted": exc.granted}
    elif isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(exc.wait or 1))
        response.data = {"detail": f"Rate limit exceeded. Retry after {wait} seconds."}
        response["Retry-After"] = str(wait)
    return response
