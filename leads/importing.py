"""Lead import (API.md §6): parse a CSV file or a JSON list, validate every row, and insert the
valid leads into one campaign in a single transaction: every valid row, or nothing.

Rows are numbered as the user finds them. A CSV row is the file line its record starts on
(header = 1; blank lines are skipped but still counted; a quoted cell spanning several lines
keeps its record on its first line). A JSON lead is its position in the list, from 1.

Duplicates (the same normalised email earlier in the file, or already in the campaign, also
when two imports race) are counted, not listed: `errors` lists invalid rows only.
"""

import codecs
import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from coldsend.ids import uuid7
from leads.emails import normalize_email
from leads.models import Lead
from leads.values import (
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_KEY_LENGTH,
    custom_fields_problems,
    storable,
)

MAX_ERRORS = 1000
NAME_FIELDS = ("first_name", "last_name", "company")
NAME_MAX_LENGTH = Lead._meta.get_field("first_name").max_length
LEAD_FIELDS = frozenset({"email", *NAME_FIELDS, "custom_fields"})
ERROR_EMAIL_MAX_LENGTH = 320
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

# A strict subset of what leads.emails.normalize_email accepts (Django's EmailValidator on the
# lower-cased address): plain ASCII addresses match here in a fraction of the time; anything
# else is decided by normalize_email itself, so the rules stay exactly the same.
_PLAIN_EMAIL = re.compile(
    r"(?=[^@]{1,64}@)[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*"
    r"\.(?!-)[a-z-]{2,63}(?<!-)"
)

# One parsed row: (row number, raw email, first_name, last_name, company, custom_fields,
# problem). Plain tuples: a 100,000-row file makes this the hot path.
ParsedRow = tuple[int, str, str, str, str, dict[str, str], str | None]
# One lead ready to insert: (id, email, first_name, last_name, company, custom_fields).
NewLead = tuple[Any, str, str, str, str, dict[str, str]]


class ImportFileError(Exception):
    """The upload cannot be read as a CSV of leads (answered 400 on `file`); nothing is stored."""


class ImportTooLarge(Exception):
    """Over LEADS_IMPORT_MAX_BYTES or LEADS_IMPORT_MAX_ROWS (answered 413); nothing is stored."""


@dataclass
class ImportReport:
    created: int = 0
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
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "errors": self.errors,
        }


def max_bytes() -> int:
    return settings.LEADS_IMPORT_MAX_BYTES


def max_rows() -> int:
    return settings.LEADS_IMPORT_MAX_ROWS


def too_many_bytes_message() -> str:
    return f"The upload is larger than the limit of {max_bytes():,} bytes; nothing was imported."


def too_many_rows_message() -> str:
    return f"The import has more than {max_rows():,} rows, the limit; nothing was imported."


def import_csv(
    campaign: Campaign, file: IO[bytes], progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a CSV file (binary, seekable) into `campaign`. `progress`, if given, is called now
    and then with the number of bytes of the file read so far."""
    text = io.TextIOWrapper(file, encoding=detect_encoding(file), newline="")
    try:
        return import_rows(campaign, csv_rows(text, progress))
    finally:
        text.detach()  # the caller owns the file and closes it


def import_json(campaign: Campaign, leads: list[Any]) -> ImportReport:
    """Import a JSON list of lead objects into `campaign`."""
    if len(leads) > max_rows():
        raise ImportTooLarge(too_many_rows_message())
    return import_rows(campaign, json_rows(leads))


def import_rows(campaign: Campaign, rows: Iterable[ParsedRow]) -> ImportReport:
    report = ImportReport()
    with transaction.atomic():
        staged, created = insert_leads(campaign, valid_leads(rows, report))
    report.created = created
    report.duplicates += staged - created
    return report


# Parsing: CSV


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
    reader = csv.reader(itertools.chain([line], text), delimiter=sniff_delimiter(line))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise _unreadable(lines_before_header + reader.line_num, exc) from None
    columns = map_columns(header)
    return _csv_data_rows(reader, columns, lines_before_header, text.buffer, progress)


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


def _csv_data_rows(
    reader: Any,
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
    data_rows = 0
    last_line = reader.line_num
    try:
        for record in reader:
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
            elif custom_fields:
                problem = _custom_fields_problem(custom_fields)
            yield (
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


# Parsing: JSON


def json_rows(leads: list[Any]) -> Iterator[ParsedRow]:
    for row, item in enumerate(leads, start=1):
        if not isinstance(item, dict):
            yield (row, "", "", "", "", {}, "Each lead must be an object.")
            continue
        email = item.get("email", "")
        yield (
            row,
            _shown(email.strip()) if isinstance(email, str) else "",
            *(value.strip() for value in _json_names(item)),
            _json_custom_fields(item.get("custom_fields")),
            _json_problem(item),
        )


def _json_names(item: dict[str, Any]) -> Iterator[str]:
    for name in NAME_FIELDS:
        value = item.get(name, "")
        yield value if isinstance(value, str) else ""


def _json_custom_fields(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        key: text for key, raw in value.items() if isinstance(raw, str) and (text := raw.strip())
    }


def _json_problem(item: dict[str, Any]) -> str | None:
    unknown = sorted(item.keys() - LEAD_FIELDS)
    if unknown:
        return f"Unknown field {unknown[0]!r}: put extra values in custom_fields."
    for name in ("email", *NAME_FIELDS):
        if name in item and not isinstance(item[name], str):
            return f"{name} must be a string."
    custom_fields = item.get("custom_fields", {})
    if not isinstance(custom_fields, dict) or not all(
        isinstance(value, str) for value in custom_fields.values()
    ):
        return "custom_fields must be an object of strings."
    texts = [item.get(name, "") for name in ("email", *NAME_FIELDS)]
    if not all(storable(text) for text in [*texts, *custom_fields, *custom_fields.values()]):
        return "Values may not contain NUL characters or invalid Unicode."
    return _custom_fields_problem(custom_fields)


def _custom_fields_problem(custom_fields: dict[str, str]) -> str | None:
    """The rule of POST leads, so that an import stores nothing POST leads would refuse."""
    problems = custom_fields_problems(custom_fields)
    return "custom_fields: " + " ".join(problems) if problems else None


def _shown(text: str) -> str:
    """The text with lone surrogates replaced, so a report that repeats it can be sent."""
    return text.encode("utf-8", "replace").decode("utf-8")


# Validation


def valid_leads(rows: Iterable[ParsedRow], report: ImportReport) -> Iterator[NewLead]:
    """The insertable leads among `rows`, each email once; counts the rest in `report`."""
    seen: set[str] = set()
    plain_email = _PLAIN_EMAIL.fullmatch
    for row, raw_email, first_name, last_name, company, custom_fields, problem in rows:
        if problem is None:
            email = raw_email.lower()
            if not (len(email) <= 254 and plain_email(email)):
                email, problem = _check_email(raw_email)
        if problem is None and (
            len(first_name) > NAME_MAX_LENGTH
            or len(last_name) > NAME_MAX_LENGTH
            or len(company) > NAME_MAX_LENGTH
        ):
            problem = _name_problem(first_name, last_name, company)
        if problem is not None:
            report.add_invalid(row, raw_email, problem)
        elif email in seen:
            report.duplicates += 1
        else:
            seen.add(email)
            yield (uuid7(), email, first_name, last_name, company, custom_fields)


def _check_email(raw: str) -> tuple[str, str | None]:
    if not raw:
        return "", "Missing email."
    try:
        return normalize_email(raw), None
    except ValidationError as exc:
        return "", exc.messages[0]


def _name_problem(*values: str) -> str:
    name = next(n for n, v in zip(NAME_FIELDS, values, strict=True) if len(v) > NAME_MAX_LENGTH)
    return f"{name} is longer than {NAME_MAX_LENGTH} characters."


# Insertion: the only engine-specific part. Both count what the unique constraint on
# (campaign, email) let in, so a lead added meanwhile by another request is a duplicate.


def insert_leads(campaign: Campaign, leads: Iterable[NewLead]) -> tuple[int, int]:
    """Insert `leads` (inside the caller's transaction); return (offered, created)."""
    if connection.vendor == "postgresql":
        return _copy_into_postgresql(campaign, leads)
    return _bulk_create(campaign, leads)


_STAGING = "lead_import_staging"
_STAGED_COLUMNS = "id, email, first_name, last_name, company, custom_fields"


def _copy_into_postgresql(campaign: Campaign, leads: Iterable[NewLead]) -> tuple[int, int]:
    # SQL identifiers come from the models and constants here; every value is a parameter.
    lead_table, campaign_table = Lead._meta.db_table, Campaign._meta.db_table
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    staged = 0
    with connection.cursor() as cursor:
        # Keeps the campaign from being deleted under the import without blocking its updates.
        cursor.execute(
            f"SELECT 1 FROM {campaign_table} WHERE id = %s FOR KEY SHARE",  # noqa: S608
            [campaign.pk],
        )
        if cursor.fetchone() is None:
            raise Campaign.DoesNotExist
        cursor.execute(
            f"CREATE TEMP TABLE {_STAGING} (id uuid, email text, first_name text, last_name text,"
            " company text, custom_fields jsonb) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {_STAGING} ({_STAGED_COLUMNS}) FROM STDIN") as copy:
            write_row = copy.write_row
            for lead_id, email, first_name, last_name, company, custom_fields in leads:
                write_row((lead_id, email, first_name, last_name, company, dumps(custom_fields)))
                staged += 1
        # Inserting in email order makes concurrent imports with overlapping emails wait
        # for each other on the unique index instead of deadlocking.
        cursor.execute(
            f"INSERT INTO {lead_table} ({_STAGED_COLUMNS}, workspace_id, campaign_id, status,"  # noqa: S608
            f" created_at) SELECT {_STAGED_COLUMNS}, %s, %s, %s, %s FROM {_STAGING}"
            " ORDER BY email ON CONFLICT (campaign_id, email) DO NOTHING",
            [campaign.workspace_id, campaign.pk, Lead.Status.PENDING, timezone.now()],
        )
        created = cursor.rowcount
        # ON COMMIT DROP alone would keep it for a second import inside an outer transaction.
        cursor.execute(f"DROP TABLE {_STAGING}")
        return staged, created


def _bulk_create(campaign: Campaign, leads: Iterable[NewLead]) -> tuple[int, int]:
    # On SQLite the transaction holds the write lock from its start, so counting before and
    # after is exact.
    if not Campaign.objects.filter(pk=campaign.pk).exists():
        raise Campaign.DoesNotExist
    in_campaign = Lead.objects.filter(campaign_id=campaign.pk)
    before = in_campaign.count()
    staged = 0
    leads = iter(leads)
    while batch := list(itertools.islice(leads, 1000)):
        Lead.objects.bulk_create(
            [
                Lead(
                    id=lead_id,
                    workspace_id=campaign.workspace_id,
                    campaign_id=campaign.pk,
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    company=company,
                    custom_fields=custom_fields,
                )
                for lead_id, email, first_name, last_name, company, custom_fields in batch
            ],
            ignore_conflicts=True,
        )
        staged += len(batch)
    return staged, in_campaign.count() - before
