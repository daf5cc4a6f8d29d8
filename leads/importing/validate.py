"""Validation: which parsed rows become leads; the rest are counted in the report."""

import re
from collections.abc import Iterable, Iterator

from django.core.exceptions import ValidationError

from coldsend.core.ids import uuid7_text
from leads.emails import normalize_email
from leads.importing.rows import NAME_FIELDS, NAME_MAX_LENGTH, ImportReport, NewLead, ParsedRow

# A strict subset of what leads.emails.normalize_email accepts (Django's EmailValidator on the
# lower-cased address): plain ASCII addresses match here in a fraction of the time; anything
# else is decided by normalize_email itself, so the rules stay exactly the same.
_PLAIN_EMAIL = re.compile(
    r"(?=[^@]{1,64}@)[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*"
    r"\.(?!-)[a-z-]{2,63}(?<!-)"
)


def valid_leads(rows: Iterable[ParsedRow], report: ImportReport) -> Iterator[NewLead]:
    """The insertable leads among `rows`, each email once; counts the rest in `report`."""
    seen: set[str] = set()
    plain_email = _PLAIN_EMAIL.fullmatch
    new_id = uuid7_text
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
            yield NewLead(new_id(), email, first_name, last_name, company, custom_fields)


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
