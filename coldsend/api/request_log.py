"""One structured line per API request, on logger `coldsend.requests`."""

import json
import logging
import time

from django.http import HttpRequest, HttpResponse

from apikeys.authentication import request_key_cached
from coldsend.api.routing import GetResponse, is_api_path

request_log = logging.getLogger("coldsend.requests")


class RequestLogMiddleware:
    """One structured line per API request; never a header, a body or a query string."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        key = request_key_cached(request)
        line = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "key_prefix": key.prefix if key else None,
            "workspace": key.workspace.slug if key else None,
        }
        reason = getattr(request, "failure_reason", None)
        if reason is not None:  # e.g. "cache_unavailable" on a 503
            line["reason"] = reason
        request_log.info(json.dumps(line))
        return response
