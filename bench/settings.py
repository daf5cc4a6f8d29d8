"""Settings for benchmarks: the real settings plus a baseline route (bench/urls.py).

BENCH_GUARDS=off removes the rate limiter and the idempotency middleware, so one run can
measure what they cost."""

import os

from coldsend.settings import *  # noqa: F403
from coldsend.settings import MIDDLEWARE, REST_FRAMEWORK

ROOT_URLCONF = "bench.urls"

if os.environ.get("BENCH_GUARDS") == "off":
    REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    MIDDLEWARE = [
        m
        for m in MIDDLEWARE
        if m.rsplit(".", 1)[1] not in {"IdempotencyMiddleware", "RateLimitHeadersMiddleware"}
    ]
