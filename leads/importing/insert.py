"""Insertion: the only engine-specific part. Both count what the unique constraint on
(campaign, email) let in, so a lead added meanwhile by another request is a duplicate."""

import itertools
import uuid
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as quote
from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from leads.importing.rows import NewLead
from leads.models import Lead


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
    with connection.cursor() as cursor:
        # Keeps the campaign from being deleted under the import without blocking its updates.
        cursor.execute(
            f"SELECT 1 FROM {campaign_table} WHERE id = %s FOR KEY SHARE",  # noqa: S608
            [campaign.pk],
        )
        if cursor.fetchone() is None:
            raise Campaign.DoesNotExist
        # Imports into one campaign take turns: a direct load (unsorted) racing another import
        # could deadlock with it.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_import_lock_id(campaign)])
        rows = _copy_rows(leads)
        if not _has_leads(cursor, campaign):
            # Nothing to collide with (the leads are unique already): straight into the table.
            # A lead another request adds meanwhile (POST leads) makes it fail: then the
            # savepoint undoes it and the rows go the staging way below.
            sent: list[tuple[str, ...]] = []
            try:
                with transaction.atomic():
                    staged = _copy(cursor, lead_table, _DIRECT_COLUMNS,
                                   _kept(rows, sent), _direct_tail(campaign))  # fmt: skip
                return staged, staged
            except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
                rows = itertools.chain(sent, rows)
        cursor.execute(
            f"CREATE TEMP TABLE {_STAGING} (id uuid, email text, first_name text, last_name text,"
            " company text, custom_fields jsonb) ON COMMIT DROP"
        )
        staged = _copy(cursor, _STAGING, _STAGED_COLUMNS, rows, ())
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


def _import_lock_id(campaign: Campaign) -> int:
    """A signed 64-bit advisory lock id for imports into `campaign` (from its UUID)."""
    return int.from_bytes(uuid.UUID(str(campaign.pk)).bytes[:8], "big", signed=True)


def _copy_rows(leads: Iterable[NewLead]) -> Iterator[tuple[str, ...]]:
    """Each lead as the text columns COPY sends (_STAGED_COLUMNS)."""
    for lead_id, email, first_name, last_name, company, custom_fields in leads:
        yield lead_id, email, first_name, last_name, company, json_object(custom_fields)


def _kept(rows: Iterator[tuple[str, ...]], sent: list) -> Iterator[tuple[str, ...]]:
    """`rows`, each also kept in `sent` (text only: compact) to be sent again if the direct
    load fails."""
    for row in rows:
        sent.append(row)
        yield row


_DIRECT_COLUMNS = f"{_STAGED_COLUMNS}, workspace_id, campaign_id, status, created_at"


def _direct_tail(campaign: Campaign) -> tuple:
    """The columns every lead of the import shares, after its own (_DIRECT_COLUMNS)."""
    return (campaign.workspace_id, campaign.pk, Lead.Status.PENDING, timezone.now())


def _has_leads(cursor: Any, campaign: Campaign) -> bool:
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {Lead._meta.db_table} WHERE campaign_id = %s)",  # noqa: S608
        [campaign.pk],
    )
    return cursor.fetchone()[0]


def _copy(cursor: Any, table: str, columns: str, rows: Iterable[tuple], tail: tuple) -> int:
    """COPY `rows` (each followed by `tail`) into `table`; return how many."""
    count = 0
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row + tail)
            count += 1
    return count


def json_object(fields: dict[str, str]) -> str:
    """`fields` (str → str) as compact JSON, as json.dumps(ensure_ascii=False) writes it, at a
    fraction of its cost per call (it builds an encoder each time)."""
    if not fields:
        return "{}"
    return "{" + ",".join(f"{quote(k)}:{quote(v)}" for k, v in fields.items()) + "}"


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
