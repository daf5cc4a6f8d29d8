"""Per-key rate limits: a sliding window (two fixed windows, the previous one weighted by how much
of it still overlaps the last period), counted in the cache, so the limit holds across processes
and machines when the cache is Redis (CACHE_URL); the DRF throttle that counts, and the
middleware that shows the window on every API answer.

Cost per counted request: on Redis ONE round trip (a pipeline: INCR of this window's counter,
EXPIRE, GET of the previous window's); other cache backends two calls (get, then incr). A
refused request costs one more (DECR: a refusal does not use up the allowance)."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from apikeys.authentication import request_key
from apikeys.models import APIKey
from coldsend.api.cache_outage import CACHE_ERRORS
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
    """A key's usage at one instant: `previous` requests counted in the last fixed window,
    `current` in this one (refused requests are not counted)."""

    limit: int
    period: int
    start: int  # epoch seconds when the current fixed window began
    previous: int
    current: int
    at: float
    refused: bool = False

    @property
    def used(self) -> float:
        """Requests in the last `period`, the previous window's spread evenly over it."""
        overlap = 1 - (self.at - self.start) / self.period
        return self.previous * overlap + self.current

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.used))

    @property
    def exceeded(self) -> bool:
        return self.refused

    @property
    def reset(self) -> int:
        """Epoch seconds when the full allowance is back (nothing counted any more)."""
        if self.current:
            return self.start + 2 * self.period
        if self.previous:
            return self.start + self.period
        return math.ceil(self.at)

    def next_allowed(self) -> float:
        """When one more request fits: later in this window once enough of the previous one
        has slid out, else in the next window, where this one's count slides out in turn."""
        room = self.limit - self.current - 1  # what the previous window may still weigh
        if room >= 0:
            if not self.previous:
                return self.at
            fraction = 1 - room / self.previous
            if fraction < 1:
                return max(self.at, self.start + fraction * self.period)
        if not self.current:
            return self.start + self.period
        fraction = max(0.0, 1 - (self.limit - 1) / self.current)
        return self.start + (1 + fraction) * self.period

    def retry_after(self) -> int:
        return max(1, math.ceil(self.next_allowed() - time.time()))

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
    now = time.time()
    start = int(now) // period * period
    current_key = f"ratelimit:{bucket}:{key.pk}:{start}"
    previous_key = f"ratelimit:{bucket}:{key.pk}:{start - period}"
    if not consume:
        counts = caches["default"].get_many([current_key, previous_key])
        return Window(limit, period, start, counts.get(previous_key, 0),
                      counts.get(current_key, 0), now)  # fmt: skip
    # Kept through the next window too, where it is the previous one.
    timeout = 2 * period + 5
    previous, current = _count(current_key, previous_key, timeout)
    window = Window(limit, period, start, previous, current, now)
    if window.used > limit:
        _uncount(current_key)
        window = Window(limit, period, start, previous, current - 1, now, refused=True)
    return window


def _count(current_key: str, previous_key: str, timeout: int) -> tuple[int, int]:
    """Add one to the current window's counter, atomically; return (previous, current)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        names = [backend.make_and_validate_key(k) for k in (current_key, previous_key)]
        pipeline = backend._cache.get_client(names[0], write=True).pipeline(transaction=False)
        pipeline.incr(names[0])
        pipeline.expire(names[0], timeout)
        pipeline.get(names[1])
        current, _, previous = pipeline.execute()
        return int(previous or 0), int(current)
    previous = backend.get(previous_key, 0)
    for _ in range(3):
        try:
            return previous, backend.incr(current_key)
        except ValueError:  # the window's first request: open it, unless another just did
            if backend.add(current_key, 1, timeout=timeout):
                return previous, 1
    raise RuntimeError(f"rate-limit counter {current_key} keeps vanishing")


def _uncount(current_key: str) -> None:
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
        caches["default"].decr(current_key)


def remember(request: HttpRequest, window: Window) -> None:
    """Keep the window on the Django request so the headers middleware can show it."""
    request.rate_limit_window = window


def peek(request: HttpRequest, key: APIKey, view: APIView | type | None) -> None:
    """Note the key's current window without counting a request (for refused requests);
    nothing when the cache cannot be reached (the answer is then about that)."""
    if getattr(request, "rate_limit_window", None) is None:
        with contextlib.suppress(*CACHE_ERRORS):
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
    answered before the view (413)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_api_path(request):
            return response
        window = getattr(request, "rate_limit_window", None)
        if window is None and response.status_code not in (401, 503):
            key = request_key(request)
            if key is not None:
                peek(request, key, view_class(request.path))
                window = getattr(request, "rate_limit_window", None)
        if window is not None:
            for header, value in window.headers().items():
                response[header] = value
        return response
