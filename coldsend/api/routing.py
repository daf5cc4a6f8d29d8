"""What every API middleware needs to know about a request: is it an API path, and which view
answers it."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

API_PREFIX = "/api/public/v1/"

GetResponse = Callable[[HttpRequest], HttpResponse]


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def view_class(path: str) -> type | None:
    """The view class that answers `path` (a viewset's class for its routes), if any."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
