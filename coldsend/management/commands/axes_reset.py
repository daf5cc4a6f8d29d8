"""`manage.py axes_reset`: lift every admin login lockout at once.

django-axes' own command cannot with its cache handler (which this service uses: no table of
attempts) and raises NotImplementedError; this one, listed before axes in INSTALLED_APPS, takes
its name and deletes the handler's keys from the cache itself: on Redis by a SCAN over the
`axes-` keys, on the local-memory cache from its dictionary. `axes_reset_username NAME` and
`axes_reset_ip ADDRESS` lift one lockout on any cache."""

import fnmatch
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.management.base import BaseCommand, CommandError

PATTERN = "axes-*"


def delete_lockouts() -> int:
    """Delete every django-axes counter from its cache; how many."""
    cache = caches[getattr(settings, "AXES_CACHE", "default")]
    pattern = cache.make_key(PATTERN)
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=pattern, count=1000))
        return client.delete(*keys) if keys else 0
    if isinstance(cache, LocMemCache):
        with cache._lock:
            keys = [key for key in cache._cache if fnmatch.fnmatchcase(key, pattern)]
        for key in keys:
            cache._delete(key)
        return len(keys)
    raise CommandError(
        f"This cache ({type(cache).__name__}) cannot list its keys: lift one lockout with "
        "`manage.py axes_reset_username NAME` or `manage.py axes_reset_ip ADDRESS`, or wait for "
        "ADMIN_LOGIN_LOCKOUT_MINUTES."
    )


class Command(BaseCommand):
    help = "Lift every admin login lockout (all failed-login counters in the cache)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = delete_lockouts()
        self.stdout.write(f"{count} lockout counters removed." if count else "No lockouts found.")
