"""Parsing a CSV upload into ParsedRows: encoding, delimiter, header, then the data rows."""

import codecs
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from leads.importing.rows import (
    ImportFileError,
    ImportTooLarge,
    ParsedRow,
    custom_fields_problem,
    max_columns,
    max_lines,
    max_rows,
    too_many_lines_message,
    too_many_rows_message,
)
from leads.values import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH, MAX_CUSTOM_VALUE_LENGTH

DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8-sig", "cp1252")

# Header spellings per lead field; a header matches ignoring case, spaces and punctuation
# ("E-mail", "e_mail" and "EMAIL" are all "Email").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("Email", "Email Address", "E-mail", "Mail"),
    "first_name": ("First Name", "Given Name"),
    "last_name": ("Last Name", "Surname", "Family Name"),
    "company": ("Company", "Company Name", "Organization", "Organisation"),
}
_NOT_ALNUM = re.compile(r"[\W_]+")
_QUOTED = re.compile(r'"[^"]*"')


def header_key(name: str) -> str:
    return _NOT_ALNUM.sub("", name.casefold())


_FIELD_BY_HEADER = {
    header_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases
}


def csv_rows(
    text: io.TextIOWrapper, progress: Callable[[int], None] | None = None
) -> Iterator[ParsedRow]:
    """Check the header now (ImportFileError), then iterate over the data rows; ImportTooLarge
    as soon as there are more than LEADS_IMPORT_MAX_ROWS."""
    lines_before_header = 0
    for line in text:
        if line.strip():
            break
        lines_before_header += 1
    else:
        raise ImportFileError("The file has no header row.")
    delimiter = sniff_delimiter(line)
    if line.count(delimiter) >= max_columns() and (
        _QUOTED.sub("", line).count(delimiter) >= max_columns()
    ):  # refused before the header is split: a wide one costs memory per column
        raise ImportFileError(
            f"The header has more than {max_columns():,} columns, the limit "
            "(LEADS_IMPORT_MAX_COLUMNS)."
        )
    guard = _RowWidthGuard(text, delimiter, lines_before_header + 1)
    reader = csv.reader(itertools.chain([line], guard), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise _unreadable(lines_before_header + reader.line_num, exc) from None
    columns = map_columns(header)
    return _csv_data_rows(reader, guard, columns, lines_before_header, text.buffer, progress)


def _unreadable(line: int, exc: csv.Error) -> ImportFileError:
    return ImportFileError(f"Line {line} cannot be read as CSV: {exc}.")


def detect_encoding(file: IO[bytes]) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (Latin-1); refuse binary files."""
    file.seek(0)
    head = file.read(4)
    if not head:
        raise ImportFileError("The file is empty.")
    if head.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "This is a spreadsheet workbook or an archive, not a CSV file: save it as CSV first."
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("UTF-16 files are not supported: save the file as CSV UTF-8.")
    for encoding in ENCODINGS:
        file.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for chunk in iter(lambda: file.read(1 << 16), b""):
                if b"\x00" in chunk:
                    raise ImportFileError("The file contains binary data, not CSV text.")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        file.seek(0)
        return encoding
    raise ImportFileError("The file is not text: it is neither UTF-8 nor Latin-1 (Windows-1252).")


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of `,` `;` and tab in the header line, outside quotes; `,` on a tie."""
    unquoted = _QUOTED.sub("", header_line)
    counts = [unquoted.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))]


@dataclass(frozen=True)
class Columns:
    width: int
    email: int
    first_name: int | None
    last_name: int | None
    company: int | None
    custom: tuple[tuple[int, str], ...]


def map_columns(header: list[str]) -> Columns:
    """Lead fields by their aliases; every other named column is a custom field under its
    trimmed header, so the header must make valid custom field names (else every row would be
    invalid). Columns without a header are ignored."""
    found: dict[str, tuple[int, str]] = {}
    custom: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip()
        if not name:
            continue
        field_name = _FIELD_BY_HEADER.get(header_key(name))
        if field_name is None:
            if len(name) > MAX_CUSTOM_KEY_LENGTH:
                raise ImportFileError(
                    f"The column '{name[:40]}…' is not a lead field and its header is longer "
                    f"than {MAX_CUSTOM_KEY_LENGTH} characters, the limit for a custom field name."
                )
            if name in custom:
                raise ImportFileError(f"The header has the column '{name}' twice.")
            custom[name] = index
        elif field_name in found:
            raise ImportFileError(
                f"The columns '{found[field_name][1]}' and '{name}' both mean {field_name}."
            )
        else:
            found[field_name] = (index, name)
    if "email" not in found:
        raise ImportFileError(
            f"The header has no email column (one of: {', '.join(HEADER_ALIASES['email'])})."
        )
    if len(custom) > MAX_CUSTOM_FIELDS:
        raise ImportFileError(
            f"The header has {len(custom)} columns that are not lead fields; they become custom "
            f"fields, of which a lead may have at most {MAX_CUSTOM_FIELDS}."
        )

    def index_of(field_name: str) -> int | None:
        return found[field_name][0] if field_name in found else None

    return Columns(
        width=len(header),
        email=found["email"][0],
        first_name=index_of("first_name"),
        last_name=index_of("last_name"),
        company=index_of("company"),
        custom=tuple((index, name) for name, index in custom.items()),
    )


class _RowWidthGuard:
    """The file's lines after the header, for the CSV reader, refusing a data row (across the
    lines a quoted cell spans) with more than 10 x LEADS_IMPORT_MAX_COLUMNS delimiter characters
    before the reader splits it: a row of millions of empty cells costs memory per cell. Quoted
    delimiters count too, hence the margin over the column limit. A file of more than
    LEADS_IMPORT_MAX_LINES lines (quoted line breaks included) is refused as too large."""

    def __init__(self, lines: Iterator[str], delimiter: str, line_number: int) -> None:
        self.lines, self.delimiter, self.line_number = lines, delimiter, line_number
        self.limit = 10 * max_columns()
        self.in_row = 0  # delimiters read since the current row began

    def __iter__(self) -> Iterator[str]:
        delimiter, limit, last_line = self.delimiter, self.limit, max_lines()
        for line in self.lines:
            self.line_number += 1
            if self.line_number > last_line:
                raise ImportTooLarge(too_many_lines_message())
            self.in_row += line.count(delimiter)
            if self.in_row > limit:
                raise ImportFileError(
                    f"Line {self.line_number} holds more than {limit:,} '{delimiter}' "
                    f"characters in one row; a row may have at most {max_columns():,} columns."
                )
            yield line


def _csv_data_rows(
    reader: Any,
    guard: _RowWidthGuard,
    columns: Columns,
    line_offset: int,
    file: IO[bytes],
    progress: Callable[[int], None] | None,
) -> Iterator[ParsedRow]:
    limit = max_rows()
    width = columns.width
    email_at = columns.email
    first_at, last_at, company_at = columns.first_name, columns.last_name, columns.company
    custom = columns.custom
    padding = [""] * width
    max_value_length = MAX_CUSTOM_VALUE_LENGTH
    data_rows = 0
    last_line = reader.line_num
    try:
        for record in reader:
            guard.in_row = 0
            row = line_offset + last_line + 1
            last_line = reader.line_num
            if len(record) < width:
                record += padding[len(record) :]
            email = record[email_at].strip()
            if not email and not "".join(record).strip():
                continue  # a blank line, or one with only delimiters as spreadsheets export
            data_rows += 1
            if data_rows > limit:
                raise ImportTooLarge(too_many_rows_message())
            if progress is not None and not data_rows % 1024:
                progress(file.tell())
            custom_fields = {
                name: value for index, name in custom if (value := record[index].strip())
            }
            problem = None
            if len(record) > width and "".join(record[width:]).strip():
                problem = f"The row has {len(record)} values but the header has {width} columns."
            elif custom_fields and max(map(len, custom_fields.values())) > max_value_length:
                # The header made the keys valid, and decoded text holds no NUL (refused as
                # binary) nor lone surrogates: only a value's length can be wrong here.
                problem = custom_fields_problem(custom_fields)
            yield ParsedRow(
                row,
                email,
                record[first_at].strip() if first_at is not None else "",
                record[last_at].strip() if last_at is not None else "",
                record[company_at].strip() if company_at is not None else "",
                custom_fields,
                problem,
            )
    except csv.Error as exc:
        raise _unreadable(line_offset + reader.line_num, exc) from None
    if progress is not None:
        progress(file.tell())
