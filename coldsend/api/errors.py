"""JSON answers for errors outside DRF views (unknown paths, crashes): never HTML, no trace,
with DEBUG on as well (API.md §3)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from coldsend.api.bodies import detail_body, not_found_body
from coldsend.api.routing import GetResponse, is_api_path


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(detail_body("Bad request."), status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(detail_body("Forbidden."), status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(not_found_body(), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(detail_body("Internal server error."), status=500)


@csrf_exempt  # answers every method with its 404, as handler404 does with DEBUG off
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """The last API route: a path no API route matches. As a view, its 404 is JSON whatever
    DEBUG says (Django answers an unmatched path with its HTML URL list when DEBUG is on)."""
    return not_found(request)


class APIErrorPagesMiddleware:
    """With DEBUG on, Django answers a crash (or a SuspiciousOperation, or an Http404 outside
    DRF) with its HTML debug page and stack trace, not with the handlers above. On an API path
    such a page is turned into the handler's JSON body, with its status and headers; Django has
    logged the exception already. With DEBUG off the handlers answered: nothing to do. First in
    MIDDLEWARE, to cover every middleware's errors too."""

    HANDLERS = {400: bad_request, 403: forbidden, 404: not_found}

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        if (
            status < 400
            or response.streaming
            or not is_api_path(request)
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        handler = self.HANDLERS.get(status)
        if handler is None and status >= 500:
            handler = server_error
        if handler is None:
            return response
        answer = handler(request)
        response.content = answer.content
        response["Content-Type"] = answer["Content-Type"]
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response
