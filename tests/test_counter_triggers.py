"""The counter triggers as checked-in SQL (engagement/sql/), and the system check that fails
loudly when one is missing on the database (a SQLite table rebuild drops them silently)."""

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from engagement import triggers

FILES = [(name, part) for name, parts in triggers.INSTALLED.items() for part in parts]
# How many triggers each file set creates, per engine (SQLite: two for a distinct-lead update).
TRIGGER_COUNTS = {
    triggers.CURRENT: {"postgresql": 7, "sqlite": 7},
    triggers.DISTINCT_LEADS: {"postgresql": 4, "sqlite": 5},
}


@pytest.mark.parametrize("vendor", triggers.VENDORS)
@pytest.mark.parametrize(("name", "part"), FILES)
def test_the_checked_in_sql_is_what_the_generator_writes(vendor, name, part):
    # A failure means the generator changed: add new files and a migration (triggers.py says how).
    assert triggers.path(name, vendor, part).read_text() == triggers.generate(vendor, part, name)


@pytest.mark.parametrize("vendor", triggers.VENDORS)
@pytest.mark.parametrize("name", list(triggers.INSTALLED))
def test_the_files_create_every_trigger_they_drop(vendor, name):
    dropped = {
        statement.split()[2].rstrip(";")
        for statement in triggers.statements(name, vendor, "_drop")
        if statement.startswith("DROP TRIGGER")
    }
    created = triggers.expected_triggers(vendor, name)
    assert len(created) == TRIGGER_COUNTS[name][vendor]
    if vendor == "sqlite":
        assert dropped == created
    # PostgreSQL drops the functions, CASCADE taking their triggers.


def test_the_check_expects_every_installed_file_set():
    for vendor in triggers.VENDORS:
        assert triggers.expected_triggers(vendor) == set().union(
            *(triggers.expected_triggers(vendor, name) for name in triggers.INSTALLED)
        )
        assert "campaigns_drop_lead_firsts_delete" in triggers.expected_triggers(vendor)


def test_every_trigger_of_the_files_is_installed(db):
    assert triggers.missing_triggers(connection) == set()
    assert run_checks(databases=["default"], tags=[Tags.database]) == []


TABLES = {
    "campaigns_count_leads_update": "leads_lead",
    "campaigns_count_events_insert": "campaigns_emailevent",
    "campaigns_count_distinct_leads_insert": "campaigns_emailevent",
    "campaigns_drop_lead_firsts_delete": "campaigns_campaign",
}


def drop_trigger(name: str) -> None:
    table = TABLES[name]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {name} ON {table}")
        else:
            cursor.execute(f"DROP TRIGGER {name}")


def create_trigger(name: str) -> None:
    [statement] = [
        s
        for files in triggers.INSTALLED
        for s in triggers.statements(files, connection.vendor)
        if s.startswith(f"CREATE TRIGGER {name} ") or s.startswith(f"CREATE TRIGGER {name}\n")
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.mark.parametrize("name", list(TABLES))
def test_the_system_check_fails_when_a_trigger_is_missing(db, name):
    drop_trigger(name)
    try:
        errors = run_checks(databases=["default"], tags=[Tags.database])
        assert [error.id for error in errors] == ["engagement.E001"]
        assert name in errors[0].msg
        with pytest.raises(SystemCheckError, match=name):
            call_command("check", "--database", "default")
    finally:
        create_trigger(name)
    assert run_checks(databases=["default"], tags=[Tags.database]) == []
    call_command("check", "--database", "default")


class StatementRunner:
    """What recreate_sqlite_triggers needs of a migration's schema editor (Django's own refuses
    to open on SQLite inside the test's transaction)."""

    connection = connection

    def execute(self, sql: str, params: object = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ("campaigns_emailevent", [triggers.CURRENT, triggers.DISTINCT_LEADS]),
        ("campaigns_campaign", [triggers.CURRENT, triggers.DISTINCT_LEADS]),
        ("leads_lead", [triggers.CURRENT]),
    ],
)
def test_a_sqlite_table_rebuild_gets_every_trigger_back(db, table, names):
    # A SQLite rebuild drops the table's triggers; a migration creates them again from each file
    # set. PostgreSQL keeps triggers through ALTER TABLE: there the call changes nothing.
    on_table = {
        s.split()[2]
        for name in triggers.INSTALLED
        for s in triggers.statements(name, connection.vendor)
        if s.startswith("CREATE TRIGGER ") and triggers.trigger_table(s) == table
    }
    assert on_table
    if connection.vendor == "sqlite":
        for name in on_table:
            drop_trigger_sqlite(name)
        assert triggers.missing_triggers(connection) == on_table
    for name in names:
        triggers.recreate_sqlite_triggers(StatementRunner(), table, name)
    assert triggers.missing_triggers(connection) == set()


def drop_trigger_sqlite(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name}")
