import binascii
import uuid
from base64 import b64decode
from urllib.parse import parse_qs

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
INVALID_CURSOR = "Invalid cursor."
CURSOR_HELP = (
    "The `next` or `previous` cursor of an earlier page, as given (an opaque value). "
    'Anything else is a 400 `{"cursor": ["Invalid cursor."]}`, never another page.'
)
# Every cursor this API hands out encodes a position; an offset only past equal positions
# (none here: ids are unique) and a direction.
_CURSOR_TOKENS = {"o", "r", "p"}
_MAX_CURSOR_LENGTH = 200


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
        """The cursor of `?cursor=`, None without one (or an empty one), a 400 for anything this
        API did not hand out: DRF reads junk as the first page or answers 404."""
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            return parse_cursor(encoded, self.offset_cutoff)
        except (ValueError, binascii.Error):  # UnicodeError included
            raise ValidationError({"cursor": [INVALID_CURSOR]}) from None

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
            elif param["name"] == self.cursor_query_param:
                param["description"] = CURSOR_HELP
        return params


def parse_cursor(encoded: str, offset_cutoff: int) -> Cursor:
    """The Cursor DRF's encode_cursor made `encoded` from; ValueError for anything else."""
    if len(encoded) > _MAX_CURSOR_LENGTH:
        raise ValueError("too long")
    querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
    tokens = parse_qs(querystring, keep_blank_values=True, strict_parsing=True)
    if not tokens.keys() <= _CURSOR_TOKENS or any(len(v) != 1 for v in tokens.values()):
        raise ValueError("unknown or repeated token")
    if "p" not in tokens:
        raise ValueError("no position")
    offset, reverse = tokens.get("o", ["0"])[0], tokens.get("r", ["0"])[0]
    position = tokens["p"][0]
    if not offset.isdigit() or int(offset) > offset_cutoff or reverse not in ("0", "1"):
        raise ValueError("bad offset or direction")
    if str(uuid.UUID(position)) != position:  # positions are ids, as DRF wrote them
        raise ValueError("bad position")
    return Cursor(offset=int(offset), reverse=reverse == "1", position=position)


class OldestFirstCursorPagination(NewestFirstCursorPagination):
    """The same pages, oldest first (a lead's messages read in the order they were sent)."""

    ordering = ("id",)
