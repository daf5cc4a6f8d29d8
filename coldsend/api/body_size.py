"""Body size bounds of the API: 413 before a body is read (API.md §3)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from coldsend.api.bodies import error_response
from coldsend.api.routing import GetResponse, is_api_path, view_class
from coldsend.core import errors


class BodySizeLimitMiddleware:
    """413 before reading a body larger than the endpoint accepts (API.md §3)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(errors.Invalid(detail="Invalid Content-Length header."))
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:  # a view may accept more: the lead import does
                view = view_class(request.path)
                if hasattr(view, "max_body_bytes"):
                    limit = view.max_body_bytes()
            if length > limit:
                return error_response(
                    errors.TooLarge(f"Request body too large: the limit is {limit} bytes.")
                )
        return self.get_response(request)
