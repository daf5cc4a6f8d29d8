import uuid

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class NewestFirstCursorPagination(CursorPagination):
    """`?limit=` (1 to 100, default 25) and an opaque `cursor`; newest first, stable under inserts
    because the position is the last row's id, never an offset from the top."""

    ordering = ("-id",)  # ids are time-ordered UUIDv7: newest first, unique, no ties
    page_size = DEFAULT_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationError({"limit": ["A whole number is required."]}) from None
        if not 1 <= limit <= self.max_page_size:
            raise ValidationError({"limit": [f"Must be between 1 and {self.max_page_size}."]})
        return limit

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                uuid.UUID(cursor.position)  # positions are ids; anything else was forged
        except (NotFound, ValueError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return cursor

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return params


class OldestFirstCursorPagination(NewestFirstCursorPagination):
    """The same pages, oldest first (a lead's messages read in the order they were sent)."""

    ordering = ("id",)
