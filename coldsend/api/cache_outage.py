"""When the cache (rate limits, idempotency) cannot be reached: a JSON 503 with Retry-After,
never a 500, and the request log line says why."""

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
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
