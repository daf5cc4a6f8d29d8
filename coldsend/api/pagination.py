import binascii
import re
import uuid
from base64 import b64decode, b64encode
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

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


class SortKeyCursorPagination(OldestFirstCursorPagination):
    """The same pages (`?limit=`, an opaque `cursor`, `next` and `previous`, a 400 for a cursor
    this API did not hand out), over a list already sorted in Python by a key of (an aware
    datetime, a small integer, a UUID), oldest first: a lead's conversation, whose items come
    from three tables (delivery.api_selectors.lead_messages). The position is the last item's
    key, never an offset, so pages are stable under inserts."""

    def paginate_items(self, items: Sequence[Any], request: Request, view: Any = None) -> list:
        """The page of `items` (sorted by their `key`) that the request's cursor points at."""
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        keys = [item.key for item in items]
        cursor = self._decode_key_cursor(request)
        if cursor is None:
            start, end = 0, min(self.page_size, len(items))
        elif cursor[0]:  # reverse: the page that ends just before the position
            end = bisect_left(keys, cursor[1])
            start = max(0, end - self.page_size)
        else:
            start = bisect_right(keys, cursor[1])
            end = min(start + self.page_size, len(items))
        page = list(items[start:end])
        self._next = self._previous = None
        if end < len(items):  # the items after the page
            self._next = self._key_url(keys[end - 1], False) if end else self._first_url()
        if 0 < start < len(items):  # the items before it
            self._previous = self._key_url(keys[start], True)
        elif start and not page:  # a position past the end: the last page before it
            first = max(0, start - self.page_size)
            self._previous = self._key_url(keys[first - 1], False) if first else self._first_url()
        return page

    def get_next_link(self) -> str | None:
        return self._next

    def get_previous_link(self) -> str | None:
        return self._previous

    def _first_url(self) -> str:
        return remove_query_param(self.base_url, self.cursor_query_param)

    def _key_url(self, key: tuple, reverse: bool) -> str:
        at, rank, item_id = key
        micros = (at - _EPOCH) // timedelta(microseconds=1)
        tokens = {"p": f"{micros}.{rank}.{item_id}"}
        if reverse:
            tokens["r"] = "1"
        encoded = b64encode(urlencode(tokens).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def _decode_key_cursor(self, request: Request) -> tuple[bool, tuple] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            return parse_key_cursor(encoded)
        except (ValueError, OverflowError, binascii.Error):  # UnicodeError included
            raise ValidationError({"cursor": [INVALID_CURSOR]}) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_POSITION = re.compile(r"(-?\d{1,20})\.(\d)\.([0-9a-f-]{36})")


def parse_key_cursor(encoded: str) -> tuple[bool, tuple[datetime, int, uuid.UUID]]:
    """(reverse, key) of a cursor SortKeyCursorPagination wrote; ValueError for anything else."""
    if len(encoded) > _MAX_CURSOR_LENGTH:
        raise ValueError("too long")
    querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
    tokens = parse_qs(querystring, keep_blank_values=True, strict_parsing=True)
    if not tokens.keys() <= {"p", "r"} or any(len(v) != 1 for v in tokens.values()):
        raise ValueError("unknown or repeated token")
    if "p" not in tokens or tokens.get("r", ["1"])[0] != "1":
        raise ValueError("no position or a bad direction")
    found = _KEY_POSITION.fullmatch(tokens["p"][0])
    if found is None:
        raise ValueError("bad position")
    micros, rank, item_id = found.groups()
    if str(uuid.UUID(item_id)) != item_id:
        raise ValueError("bad id")
    at = _EPOCH + timedelta(microseconds=int(micros))
    return "r" in tokens, (at, int(rank), uuid.UUID(item_id))
