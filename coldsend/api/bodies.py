"""Every error body of the API (API.md §3), built here and nowhere else: by the exception handler
for views, and by middleware and Django's error handlers for what is answered before a view."""

from typing import Any

from django.http import JsonResponse

from coldsend.core import errors

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.Invalid: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Unprocessable: 422,
}


def detail_body(detail: str) -> dict[str, Any]:
    return {"detail": detail}


def missing_scopes_body(detail: str, required: list[str], granted: list[str]) -> dict[str, Any]:
    return {"detail": detail, "required": required, "granted": granted}


def rate_limited_body(wait: int) -> dict[str, Any]:
    return detail_body(f"Rate limit exceeded. Retry after {wait} seconds.")


def not_found_body() -> dict[str, Any]:
    return detail_body(errors.NOT_FOUND)


def status_for(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    raise TypeError(f"no HTTP status for {type(error).__name__}")


def error_body(error: errors.DomainError) -> dict[str, Any]:
    """A 400 names fields (`{field: [messages]}`) or says `detail`; a 409 or 422 has `detail`,
    `code` and the error's extra fields; 404 and 413 have `detail` only."""
    if isinstance(error, errors.Invalid) and error.errors:
        return error.errors
    if isinstance(error, errors.Conflict | errors.Unprocessable):
        return {"detail": error.detail, "code": str(error.code), **error.extra}
    return detail_body(error.detail)


def error_response(error: errors.DomainError) -> JsonResponse:
    """For middleware, which answers before any view: the same body the handler would give."""
    return JsonResponse(error_body(error), status=status_for(error))
