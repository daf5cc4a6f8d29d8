"""Stripe's Idempotency-Key for every POST of the API: the middleware that keeps answers, the
last throttle that answers retries after every check, and the permission that judges the
header's format."""

import contextlib
import hashlib
import hmac
import json
import re
import time
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from apikeys.authentication import request_key
from coldsend.api.bodies import error_response
from coldsend.api.cache_outage import CACHE_ERRORS, cache_lost, cache_unavailable
from coldsend.api.routing import GetResponse, is_api_path, view_class
from coldsend.core import errors

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
    compared as data (up to API_MAX_BODY_BYTES: a larger body, only an import's, byte for byte,
    so a hostile body is never materialised here), a multipart body without its boundary."""
    body = request.body
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("application/json") and len(body) <= settings.API_MAX_BODY_BYTES:
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


class StoredAnswer(Exception):
    """Raised by IdempotentReplay to answer a retry with `response` instead of running the
    view; the exception handler returns it as is."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("idempotent retry")
        self.response = response


_RETRY_ANSWER = "idempotent_retry_answer"


class IdempotencyMiddleware:
    """Stripe's Idempotency-Key for every POST: the first answer is kept 24 hours and replayed
    to a retry with the same body; the same key with another body is 422; a retry while the
    first is running is 409. Keys are scoped per API key. A retry's answer is given by the view
    (IdempotentReplay) once the key passed its checks: 401, 403 and 429 come first."""

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
        try:
            if not cache.add(slot, {"state": "running", "fingerprint": fingerprint},
                             timeout=settings.IDEMPOTENCY_LOCK_SECONDS):  # fmt: skip
                answer = self._answer_retry(cache.get(slot), fingerprint)
                if IdempotentReplay not in getattr(
                    view_class(request.path), "throttle_classes", ()
                ):
                    return answer  # no view that would give it after its checks: give it here
                setattr(request, _RETRY_ANSWER, answer)
                return self.get_response(request)  # the slot is the first request's: untouched
        except CACHE_ERRORS as exc:
            return cache_unavailable(request, exc)

        response = self.get_response(request)
        try:
            if response.status_code in STORED_STATUSES and not response.streaming:
                cache.set(slot, _record(api_key.pk, fingerprint, response),
                          timeout=settings.IDEMPOTENCY_TTL_SECONDS)  # fmt: skip
            else:
                cache.delete(slot)
        except CACHE_ERRORS as exc:  # the request ran: its answer stands, unkept
            cache_lost(request, exc, "idempotency_answer_not_kept")
        return response

    def _answer_retry(self, stored: dict | None, fingerprint: str) -> HttpResponse:
        if stored is None:  # expired between add and get: ask the client to retry
            return self._in_progress()
        if stored["fingerprint"] != fingerprint:
            return error_response(KEY_REUSED)
        if stored["state"] == "running":
            return self._in_progress()
        if "body" not in stored:
            response = self._not_stored(stored)
        else:
            response = HttpResponse(
                stored["body"], status=stored["status"], content_type=stored["content_type"]
            )
        response[REPLAYED_HEADER] = "true"
        return response

    @staticmethod
    def _not_stored(stored: dict) -> HttpResponse:
        """The request already ran and answered `status`, but its answer was too large to keep:
        say so (409, never a 2xx whose body is not the documented one), with the object's id."""
        status = stored["status"]
        detail = (
            f"This request already succeeded ({status} {HTTPStatus(status).phrase}); it was not "
            f"run again. Its answer ({stored['size']:,} bytes) was too large to keep for replay"
        )
        fetch = f": fetch the object {stored['id']} instead." if "id" in stored else "."
        extra = {"original_status": status}
        if "id" in stored:
            extra["id"] = stored["id"]
        return error_response(
            errors.Conflict(
                detail + fetch, errors.ErrorCode.IDEMPOTENCY_RESPONSE_NOT_STORED, **extra
            )
        )

    @staticmethod
    def _in_progress() -> HttpResponse:
        return error_response(IN_PROGRESS)


def _record(api_key_id: object, fingerprint: str, response: HttpResponse) -> dict:
    """What is kept of an answer: all of it, or (over the per-answer bound or the key's budget,
    or an answer showing a secret once: a webhook's `secret`) its status and, for an object,
    its id."""
    record = {
        "state": "done",
        "fingerprint": fingerprint,
        "status": response.status_code,
        "content_type": response.get("Content-Type"),
    }
    body = response.content
    secret = getattr(response, "shows_secret", False)  # never kept, in any form
    if (
        not secret
        and len(body) <= settings.IDEMPOTENCY_MAX_STORED_BYTES
        and _within_budget(api_key_id, body)
    ):
        record["body"] = body
    else:
        record["size"] = len(body)
        data = getattr(response, "data", None)  # a DRF answer's data, before rendering
        if isinstance(data, dict) and isinstance(data.get("id"), str | uuid.UUID):
            record["id"] = str(data["id"])
    return record


def _within_budget(api_key_id: object, body: bytes) -> bool:
    """Count `body` against the key's stored bytes of this IDEMPOTENCY_TTL_SECONDS period."""
    period = settings.IDEMPOTENCY_TTL_SECONDS
    counter = f"idempotency-bytes:{api_key_id}:{int(time.time()) // period}"
    size = max(1, len(body))
    try:
        total = cache.incr(counter, size)
    except ValueError:  # the period's first stored answer
        if not cache.add(counter, size, timeout=2 * period):
            total = cache.incr(counter, size)
        else:
            total = size
    return total <= settings.IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY


class IdempotentReplay(BaseThrottle):
    """The last of the view's throttles, so the last check before the view runs: a retry of a
    kept request is answered here (replay, 409 or 422) instead of running the view again, after
    the key's authentication and scopes (401, 403), the method (405) and its rate limit (429,
    the retry is counted like any request)."""

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        answer = getattr(request._request, _RETRY_ANSWER, None)
        if answer is None:
            return True
        window = getattr(request._request, "rate_limit_window", None)
        if window is not None and window.exceeded:
            return True  # the rate throttle's 429 comes first
        if request.method.lower() not in (m.lower() for m in view.allowed_methods):
            return True  # answered 405 by the view
        raise StoredAnswer(answer)


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
