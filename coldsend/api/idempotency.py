"""Stripe's Idempotency-Key for every POST of the API: the middleware that keeps and replays
answers, and the permission that judges the header's format."""

import contextlib
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from apikeys.authentication import request_key
from coldsend import errors
from coldsend.api.bodies import error_response
from coldsend.api.routing import GetResponse, is_api_path

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# 1 to 255 visible ASCII characters, spaces inside only: HTTP trims a header value's ends.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
MALFORMED_IDEMPOTENCY_KEY = {
    IDEMPOTENCY_HEADER: [
        "Must be 1 to 255 printable ASCII characters, without spaces at either end."
    ]
}
IN_PROGRESS = errors.Conflict(
    "A request with this Idempotency-Key is still being processed. Retry later.",
    errors.ErrorCode.IDEMPOTENCY_IN_PROGRESS,
)
KEY_REUSED = errors.Unprocessable(
    "This Idempotency-Key was already used with a different request body. Use a new key for a "
    "new request.",
    errors.ErrorCode.IDEMPOTENCY_KEY_REUSED,
)
# Results worth replaying: the endpoint ran and answered (Stripe's rule); refusals before it
# ran (400, 401, 403, 413, 429 …) and server errors leave nothing behind, so a retry runs again.
STORED_STATUSES = frozenset({200, 201, 202, 204, 404, 409})


def _fingerprint(request: HttpRequest) -> str:
    """What makes two requests 'the same': method, path (slash-insensitive) and body; JSON
    compared as data, a multipart body without its random boundary."""
    body = request.body
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("application/json"):
        with contextlib.suppress(ValueError, RecursionError):
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    elif content_type.startswith("multipart/form-data") and "boundary=" in content_type:
        boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip('"')
        body = body.replace(boundary.encode("latin-1"), b"")
    # Keyed, so a fingerprint in the cache cannot be used to guess a body (an SMTP password).
    digest = hmac.new(settings.SECRET_KEY.encode(), digestmod=hashlib.sha256)
    for part in (request.method.encode(), request.path.rstrip("/").encode(), body):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


class IdempotencyMiddleware:
    """Stripe's Idempotency-Key for every POST: the first answer is kept 24 hours and replayed
    to a retry with the same body; the same key with another body is 422; a retry while the
    first is running is 409. Keys are scoped per API key."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or idempotency_key is None or not is_api_path(request):
            return self.get_response(request)
        api_key = request_key(request)
        if api_key is None:
            return self.get_response(request)  # answered 401 by the view; nothing stored
        if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, idempotency_key):
            # Refused by IdempotencyKeyFormat, after the view's 401/403/405; nothing stored.
            return self.get_response(request)

        slot = f"idempotency:{api_key.pk}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"
        fingerprint = _fingerprint(request)
        if not cache.add(slot, {"state": "running", "fingerprint": fingerprint},
                         timeout=settings.IDEMPOTENCY_LOCK_SECONDS):  # fmt: skip
            return self._answer_retry(cache.get(slot), fingerprint)

        response = self.get_response(request)
        if response.status_code in STORED_STATUSES and not response.streaming:
            cache.set(
                slot,
                {
                    "state": "done",
                    "fingerprint": fingerprint,
                    "status": response.status_code,
                    "content_type": response.get("Content-Type"),
                    "body": response.content,
                },
                timeout=settings.IDEMPOTENCY_TTL_SECONDS,
            )
        else:
            cache.delete(slot)
        return response

    def _answer_retry(self, stored: dict | None, fingerprint: str) -> HttpResponse:
        if stored is None:  # expired between add and get: ask the client to retry
            return self._in_progress()
        if stored["fingerprint"] != fingerprint:
            return error_response(KEY_REUSED)
        if stored["state"] == "running":
            return self._in_progress()
        response = HttpResponse(
            stored["body"], status=stored["status"], content_type=stored["content_type"]
        )
        response[REPLAYED_HEADER] = "true"
        return response

    @staticmethod
    def _in_progress() -> HttpResponse:
        return error_response(IN_PROGRESS)


class IdempotencyKeyFormat(BasePermission):
    """A malformed Idempotency-Key is a 400, judged like the body: after the key's
    authentication and scopes (401, 403) and the method check (405), before anything runs."""

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if (
            request.method == "POST"
            and idempotency_key is not None
            and request.method.lower() in (m.lower() for m in view.allowed_methods)
            and not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, idempotency_key)
        ):
            raise errors.Invalid(MALFORMED_IDEMPOTENCY_KEY)
        return True
