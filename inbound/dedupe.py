"""Repeated opens or clicks of one message within 10 seconds count as one event (API.md §8).

Keys live in the cache, one per 10-second bucket of the project clock: a hit counts when no
hit was counted in the previous 10 seconds and `cache.add` (atomic on every backend) claims
the bucket; a claimed bucket remembers the instant it was counted."""

import logging
import uuid

from django.core.cache import cache

from coldsend.api.cache_outage import CACHE_ERRORS
from coldsend.core import clock

WINDOW_SECONDS = 10

logger = logging.getLogger("inbound")


def first_in_window(kind: str, message_pk: uuid.UUID, extra: str = "") -> bool:
    """True for the hit that counts; False for a repeat within WINDOW_SECONDS. With the cache
    down every hit counts: a repeat counted twice is a smaller loss than a click lost."""
    now = clock.now().timestamp()
    bucket = int(now // WINDOW_SECONDS)
    prefix = f"tracking:{kind}:{message_pk.hex}:{extra}:"
    try:
        previous = cache.get(f"{prefix}{bucket - 1}")
        if previous is not None and now - previous < WINDOW_SECONDS:
            return False
        return cache.add(f"{prefix}{bucket}", now, WINDOW_SECONDS * 3)
    except CACHE_ERRORS as exc:
        logger.warning("%s of %s counted without de-duplication: cache %s", kind, message_pk,
                       type(exc).__name__)  # fmt: skip
        return True
