"""The one exception handler: domain errors, DRF's errors and Django's ValidationError, each
answered with its API.md §3 body (built by coldsend.api.bodies)."""

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from apikeys.models import APIKey
from apikeys.permissions import MissingScopes
from coldsend.api import bodies, throttling
from coldsend.api.cache_outage import CACHE_ERRORS, cache_unavailable
from coldsend.api.idempotency import StoredAnswer
from coldsend.core import errors


def _as_domain_error(exc: Exception) -> Exception:
    """Django's own refusals in the domain's words, so that they get the same bodies."""
    if isinstance(exc, Http404):  # DRF would keep Django's "No Campaign matches …" text
        return errors.NotFound()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return errors.Invalid(exc.message_dict)
        return errors.Invalid({"non_field_errors": exc.messages})
    return exc


def api_exception_handler(exc: Exception, context: dict) -> HttpResponse | None:
    request = context.get("request")
    if isinstance(exc, StoredAnswer):  # an idempotent retry, past the key's checks and limit
        return exc.response
    if isinstance(exc, CACHE_ERRORS) and request is not None:
        return cache_unavailable(request._request, exc)
    if isinstance(exc, RecursionError):  # DRF's JSON parser lets it through
        exc = exceptions.ParseError("JSON parse error - nested too deeply.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    exc = _as_domain_error(exc)

    if isinstance(exc, errors.DomainError):
        set_rollback()
        response = Response(bodies.error_body(exc), status=bodies.status_for(exc))
    else:
        response = exception_handler(exc, context)
        if response is None:
            # A bug: Django logs it and answers with handler500's JSON, never a trace (with
            # DEBUG on, errors.APIErrorPagesMiddleware turns the debug page into that JSON).
            return None
        if isinstance(exc, MissingScopes):
            response.data = bodies.missing_scopes_body(exc.detail, exc.required, exc.granted)
        elif isinstance(exc, exceptions.Throttled):
            wait = max(1, math.ceil(exc.wait or 1))
            response.data = bodies.rate_limited_body(wait)
            response["Retry-After"] = str(wait)
    if request is not None and isinstance(request.auth, APIKey):
        throttling.peek(request._request, request.auth, context.get("view"))
    return response
