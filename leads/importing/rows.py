"""What flows through the import pipeline: parsed rows, leads ready to insert, the report, the
limits, and the two ways an import is refused as a whole."""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings

from coldsend.core import errors
from leads.models import Lead
from leads.values import custom_fields_problems

MAX_ERRORS = 1000
NAME_FIELDS = ("first_name", "last_name", "company")
NAME_MAX_LENGTH = Lead._meta.get_field("first_name").max_length
LEAD_FIELDS = frozenset({"email", *NAME_FIELDS, "custom_fields"})
ERROR_EMAIL_MAX_LENGTH = 320


class ParsedRow(NamedTuple):
    """One row as read from the file, before validation; `problem` is set when parsing already
    found the row invalid."""

    row: int
    email: str
    first_name: str
    last_name: str
    company: str
    custom_fields: dict[str, str]
    problem: str | None


class NewLead(NamedTuple):
    """One valid lead, ready to insert."""

    id: str  # a uuid7, as text
    email: str
    first_name: str
    last_name: str
    company: str
    custom_fields: dict[str, str]


class ImportFileError(errors.Invalid):
    """The upload cannot be read as a CSV of leads (an error on `file`); nothing is stored."""

    def __init__(self, message: str) -> None:
        super().__init__({"file": [message]})


class ImportTooLarge(errors.TooLarge):
    """Over LEADS_IMPORT_MAX_BYTES or LEADS_IMPORT_MAX_ROWS; nothing is stored."""


@dataclass
class ImportReport:
    created: int = 0
    suppressed: int = 0  # of the created: the address is suppressed in the workspace
    duplicates: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add_invalid(self, row: int, email: str, error: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {"row": row, "email": email[:ERROR_EMAIL_MAX_LENGTH], "error": error}
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "suppressed": self.suppressed,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "errors": self.errors,
        }


def max_bytes() -> int:
    return settings.LEADS_IMPORT_MAX_BYTES


def max_rows() -> int:
    return settings.LEADS_IMPORT_MAX_ROWS


def max_columns() -> int:
    return settings.LEADS_IMPORT_MAX_COLUMNS


def max_lines() -> int:
    return settings.LEADS_IMPORT_MAX_LINES


def too_many_lines_message() -> str:
    return (
        f"The file has more than {max_lines():,} lines (line breaks inside quoted cells count), "
        "the limit; nothing was imported."
    )


def too_many_bytes_message() -> str:
    return f"The upload is larger than the limit of {max_bytes():,} bytes; nothing was imported."


def too_many_rows_message() -> str:
    return f"The import has more than {max_rows():,} rows, the limit; nothing was imported."


def custom_fields_problem(custom_fields: dict[str, str]) -> str | None:
    """The rule of POST leads, so that an import stores nothing POST leads would refuse."""
    problems = custom_fields_problems(custom_fields)
    return "custom_fields: " + " ".join(problems) if problems else None
