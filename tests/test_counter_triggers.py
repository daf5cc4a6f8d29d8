"""The counter triggers as checked-in SQL (engagement/sql/), and the system check that fails
loudly when one is missing on the database (a SQLite table rebuild drops them silently)."""

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from engagement import triggers


@pytest.mark.parametrize("vendor", triggers.VENDORS)
@pytest.mark.parametrize("part", list(triggers.PARTS))
def test_the_checked_in_sql_is_what_the_generator_writes(vendor, part):
    # A failure means the generator changed: add new files and a migration (triggers.py says how).
    assert triggers.path(triggers.CURRENT, vendor, part).read_text() == triggers.generate(
        vendor, part
    )


@pytest.mark.parametrize("vendor", triggers.VENDORS)
def test_the_files_create_every_trigger_they_drop(vendor):
    dropped = {
        statement.split()[2].rstrip(";")
        for statement in triggers.statements(triggers.CURRENT, vendor, "_drop")
        if statement.startswith("DROP TRIGGER")
    }
    created = triggers.expected_triggers(vendor)
    assert len(created) == 7
    if vendor == "sqlite":
        assert dropped == created
    # PostgreSQL drops the functions, CASCADE taking their triggers.


def test_every_trigger_of_the_files_is_installed(db):
    assert triggers.missing_triggers(connection) == set()
    assert run_checks(databases=["default"], tags=[Tags.database]) == []


def drop_trigger(name: str) -> None:
    table = {"leads": "leads_lead", "events": "campaigns_emailevent"}[name.split("_")[2]]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {name} ON {table}")
        else:
            cursor.execute(f"DROP TRIGGER {name}")


def create_trigger(name: str) -> None:
    [statement] = [
        s
        for s in triggers.statements(triggers.CURRENT, connection.vendor)
        if s.startswith(f"CREATE TRIGGER {name} ")
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.mark.parametrize("name", ["campaigns_count_leads_update", "campaigns_count_events_insert"])
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
