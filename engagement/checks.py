"""System check: every counter trigger is installed on the databases checked (`manage.py check
--database default`, and `migrate` before it migrates). A SQLite table rebuild drops triggers
silently; then `stats` and analytics would drift from the rows with no error anywhere.

A database with migrations still to apply is not checked: the migration that creates a
missing trigger again may be among them, and `migrate` must be free to run it."""

from collections.abc import Iterable
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from engagement import triggers
from engagement.models import CampaignCounter


@register(Tags.database)
def check_counter_triggers(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor not in triggers.VENDORS:
            continue
        if CampaignCounter._meta.db_table not in connection.introspection.table_names():
            continue  # not migrated yet: the migration installs the triggers
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            continue
        missing = triggers.missing_triggers(connection)
        if missing:
            errors.append(
                Error(
                    f"Counter triggers missing on database {alias!r}: "
                    + ", ".join(sorted(missing)),
                    hint="A migration rebuilt a table (SQLite does on most AlterField) without "
                    "creating its triggers again: run engagement.triggers.statements(CURRENT, "
                    "vendor) for them in that migration.",
                    id="engagement.E001",
                )
            )
    return errors
