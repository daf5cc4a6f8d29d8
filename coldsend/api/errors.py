"""JSON answers for errors outside DRF views (unknown paths, crashes): never HTML, no trace."""

from django.http import HttpRequest, JsonResponse

from coldsend.api.bodies import detail_body, not_found_body


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(detail_body("Bad request."), status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(detail_body("Forbidden."), status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(not_found_body(), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(detail_body("Internal server error."), status=500)
