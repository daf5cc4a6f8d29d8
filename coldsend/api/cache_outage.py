"""When the cache (rate limits, idempotency, admin login counters) cannot be reached: a 503 with
Retry-After, never a 500 (JSON for the API, a short page for the admin), and the request log
line says why."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from coldsend.api.bodies import detail_body

# What the cache backends raise when their server is down or does not answer in time.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
CACHE_UNAVAILABLE = "cache_unavailable"

logger = logging.getLogger("coldsend.cache")


def note_failure(request: HttpRequest, reason: str) -> None:
    """Name why the request failed, for its request log line."""
    request.failure_reason = reason


def cache_lost(request: HttpRequest, exc: Exception, reason: str) -> None:
    """Log that the cache failed this request, and why, for its request log line."""
    # The exception's class only: a message could carry the cache URL.
    logger.error(
        "cache unavailable (%s) on %s %s", type(exc).__name__, request.method, request.path
    )
    note_failure(request, reason)


def cache_unavailable(request: HttpRequest, exc: Exception) -> JsonResponse:
    cache_lost(request, exc, CACHE_UNAVAILABLE)
    retry_after = settings.CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS
    response = JsonResponse(
        detail_body(
            "The service is temporarily unavailable: its rate-limit and idempotency "
            f"store cannot be reached. Retry after {retry_after} seconds."
        ),
        status=503,
    )
    response["Retry-After"] = str(retry_after)
    return response


class CacheOutageMiddleware:
    """A view that failed because the cache is down (e.g. the admin login, whose failure
    counters live there) answers a 503 instead of a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CACHE_ERRORS):
            return None
        if request.path.startswith("/api/"):
            return cache_unavailable(request, exception)
        cache_lost(request, exception, CACHE_UNAVAILABLE)
        retry_after = settings.CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS
        response = render(
            request, "coldsend/unavailable.html", {"retry_after": retry_after}, status=503
        )
        response["Retry-After"] = str(retry_after)
        return response
