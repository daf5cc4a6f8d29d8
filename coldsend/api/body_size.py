"""Body size bounds of the API: 413 before a body is read (API.md §3)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from coldsend.api.routing import GetResponse, is_api_path, view_class


class BodySizeLimitMiddleware:
    """413 before reading a body larger than the endpoint accepts (API.md §3)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:  # a view may accept more: the lead import does
                view = view_class(request.path)
                if hasattr(view, "max_body_bytes"):
                    limit = view.max_body_bytes()
            if length > limit:
                return JsonResponse(
                    {"detail": f"Request body too large: the limit is {limit} bytes."}, status=413
                )
        return self.get_response(request)
