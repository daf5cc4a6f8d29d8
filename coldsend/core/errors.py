"""The domain's errors: what services, transitions, admins, commands and the engine raise when a
rule says no. They know nothing of HTTP (a worker has no response to give); the API's one
exception handler (coldsend/api/exceptions.py) gives each class its status and body.

Every error carries a code from `ErrorCode`, the one vocabulary of refusals; a Conflict's code
is what a client reads in a 409 body's `code`."""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    INVALID_STATE = "invalid_state"
    NOT_READY = "not_ready"
    IN_USE = "in_use"
    DUPLICATE = "duplicate"
    LIMIT_REACHED = "limit_reached"
    SUPPRESSED = "suppressed"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_RESPONSE_NOT_STORED = "idempotency_response_not_stored"


NOT_FOUND = "Not found."
LONE_SURROGATE = (
    "JSON parse error - a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): "
    "text must be valid Unicode."
)


class DomainError(Exception):
    """A refusal by a rule. `codes` are the codes an error class may carry; `extra` holds the
    fields that explain it (e.g. a campaign's current `status` and the `allowed` states)."""

    codes: ClassVar[frozenset[ErrorCode]] = frozenset()

    def __init__(self, detail: str, code: ErrorCode, **extra: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} cannot carry the code {code!r}")
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.extra = extra


class Conflict(DomainError):
    """A state rule or a uniqueness rule broken by the request."""

    codes = frozenset(
        {
            ErrorCode.INVALID_STATE,
            ErrorCode.NOT_READY,
            ErrorCode.IN_USE,
            ErrorCode.DUPLICATE,
            ErrorCode.LIMIT_REACHED,
            ErrorCode.SUPPRESSED,
            ErrorCode.IDEMPOTENCY_IN_PROGRESS,
            ErrorCode.IDEMPOTENCY_RESPONSE_NOT_STORED,
        }
    )


class Unprocessable(DomainError):
    """Well-formed, but contradicting what the same request said before."""

    codes = frozenset({ErrorCode.IDEMPOTENCY_KEY_REUSED})


class NotFound(DomainError):
    """No such object (for this workspace): indistinguishable from one that never existed."""

    codes = frozenset({ErrorCode.NOT_FOUND})

    def __init__(self) -> None:
        super().__init__(NOT_FOUND, ErrorCode.NOT_FOUND)


class TooLarge(DomainError):
    """Over a size or count limit; nothing was done."""

    codes = frozenset({ErrorCode.TOO_LARGE})

    def __init__(self, detail: str) -> None:
        super().__init__(detail, ErrorCode.TOO_LARGE)


class Invalid(DomainError):
    """Invalid input: `errors` maps a field to its messages, or `detail` says what is wrong
    with the input as a whole."""

    codes = frozenset({ErrorCode.INVALID})

    def __init__(
        self, errors: Mapping[str, Sequence[str]] | None = None, detail: str | None = None
    ) -> None:
        if detail is None:
            detail = " ".join(m for messages in (errors or {}).values() for m in messages)
        super().__init__(detail, ErrorCode.INVALID)
        self.errors = {field: list(messages) for field, messages in (errors or {}).items()}
