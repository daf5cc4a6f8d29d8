"""The client's address, for counting failed admin logins per address."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; behind TRUSTED_PROXY_COUNT proxies that each append the address they saw to
    X-Forwarded-For, the entry the outermost of them wrote (anything left of it came from the
    client and proves nothing)."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")
