"""Lead import (API.md §6): parse a CSV file or a JSON list, validate every row, and insert the
valid leads into one campaign in a single transaction: every valid row, or nothing.

Rows are numbered as the user finds them. A CSV row is the file line its record starts on
(header = 1; blank lines are skipped but still counted; a quoted cell spanning several lines
keeps its record on its first line). A JSON lead is its position in the list, from 1.

Duplicates (the same normalised email earlier in the file, or already in the campaign, also
when two imports race) are counted, not listed: `errors` lists invalid rows only.
"""

import io
from collections.abc import Callable, Iterable
from typing import IO, Any

from django.db import transaction

from audit.services import Action, Actor, record
from campaigns.models import Campaign
from leads.importing.insert import insert_leads
from leads.importing.parse_csv import HEADER_ALIASES, csv_rows, detect_encoding
from leads.importing.parse_json import JSONBodyError, LeadItems, json_rows, read_json_import
from leads.importing.rows import (
    MAX_ERRORS,
    NAME_MAX_LENGTH,
    ImportFileError,
    ImportReport,
    ImportTooLarge,
    ParsedRow,
    max_bytes,
    max_rows,
    too_many_bytes_message,
    too_many_rows_message,
)
from leads.importing.validate import valid_leads

__all__ = [
    "HEADER_ALIASES",
    "MAX_ERRORS",
    "NAME_MAX_LENGTH",
    "ImportFileError",
    "ImportReport",
    "ImportTooLarge",
    "JSONBodyError",
    "LeadItems",
    "import_csv",
    "import_json",
    "import_rows",
    "max_bytes",
    "read_json_import",
    "too_many_bytes_message",
]


def import_csv(
    campaign: Campaign,
    file: IO[bytes],
    *,
    actor: Actor,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV file (binary, seekable) into `campaign`. `progress`, if given, is called now
    and then with the number of bytes of the file read so far."""
    text = io.TextIOWrapper(file, encoding=detect_encoding(file), newline="")
    try:
        return import_rows(campaign, csv_rows(text, progress), actor=actor, source="csv")
    finally:
        text.detach()  # the caller owns the file and closes it


def import_json(campaign: Campaign, leads: list[Any] | LeadItems, *, actor: Actor) -> ImportReport:
    """Import a JSON list of lead objects (a list, or LeadItems read from the body) into
    `campaign`."""
    if len(leads) > max_rows():
        raise ImportTooLarge(too_many_rows_message())
    return import_rows(campaign, json_rows(leads), actor=actor, source="json")


def import_rows(
    campaign: Campaign, rows: Iterable[ParsedRow], *, actor: Actor, source: str
) -> ImportReport:
    report = ImportReport()
    with transaction.atomic():
        staged, created = insert_leads(campaign, valid_leads(rows, report))
        report.created = created
        report.duplicates += staged - created
        counts = {"created": created, "duplicates": report.duplicates, "invalid": report.invalid}
        record(actor, Action.LEADS_IMPORTED, campaign, extra={"source": source, **counts})
    return report
