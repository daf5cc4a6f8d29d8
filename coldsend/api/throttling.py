"""Per-key rate limits: fixed windows counted with the cache's atomic increment, so the limit
holds across processes and machines when the cache is Redis (CACHE_URL); the DRF throttle that
counts, and the middleware that shows the window on every API answer."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.throttling import BaseThrottle

from apikeys.authentication import request_key
from apikeys.models import APIKey
from coldsend.api.routing import is_api_path, view_class

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from coldsend.api.routing import GetResponse

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@cache
def parse_rate(rate: str) -> tuple[int, int]:
    """'600/minute' → (600, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower().rstrip("s")]


@dataclass(frozen=True)
class Window:
    limit: int
    used: int
    reset: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def bucket_for(view: APIView | type | None) -> str:
    """The rate-limit bucket of a view: its `throttle_bucket` ("import" for lead imports)."""
    return getattr(view, "throttle_bucket", "default")


def _window(key: APIKey, bucket: str, consume: bool) -> Window:
    limit, period = parse_rate(settings.RATE_LIMITS[bucket])
    start = int(time.time()) // period * period
    cache_key = f"ratelimit:{bucket}:{key.pk}:{start}"
    used = _count(cache_key, timeout=period + 5) if consume else django_cache.get(cache_key, 0)
    return Window(limit=limit, used=used, reset=start + period)


def _count(cache_key: str, timeout: int) -> int:
    """Add one to the window's counter, atomically; one cache round trip once it exists."""
    for _ in range(3):
        try:
            return django_cache.incr(cache_key)
        except ValueError:  # the window's first request: open it, unless another just did
            if django_cache.add(cache_key, 1, timeout=timeout):
                return 1
    raise RuntimeError(f"rate-limit counter {cache_key} keeps vanishing")


def remember(request: HttpRequest, window: Window) -> None:
    """Keep the window on the Django request so the headers middleware can show it."""
    request.rate_limit_window = window


def peek(request: HttpRequest, key: APIKey, view: APIView | type | None) -> None:
    """Note the key's current window without counting a request (for refused requests)."""
    if getattr(request, "rate_limit_window", None) is None:
        remember(request, _window(key, bucket_for(view), consume=False))


class APIKeyRateThrottle(BaseThrottle):
    """Counts every request a key makes past authentication and scopes, per bucket."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return True
        self.window = _window(key, bucket_for(view), consume=True)
        remember(request._request, self.window)
        return not self.window.exceeded

    def wait(self) -> float:
        return self.window.retry_after()


class RateLimitHeadersMiddleware:
    """X-RateLimit-* on every response to an authenticated API request, including those
    answered before the view (413, idempotent replays and their 409/422)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_api_path(request):
            return response
        window = getattr(request, "rate_limit_window", None)
        if window is None and response.status_code != 401:
            key = request_key(request)
            if key is not None:
                peek(request, key, view_class(request.path))
                window = request.rate_limit_window
        if window is not None:
            for header, value in window.headers().items():
                response[header] = value
        return response
