"""The counter triggers: the generator of the SQL checked in under engagement/sql/, and what
the system check expects to find installed.

Per-campaign counters kept by database triggers, so `stats` and analytics read a few rows
instead of counting leads and events, and every writer is counted: the ORM, bulk_create, the
importer's INSERT … SELECT, raw SQL.

- campaigns_campaigncounter: (campaign, key) → value, key `lead:<status>` or `event:<type>`.
- campaigns_campaigneventslot: (campaign, 15-minute slot, UTC) → events of each type in it.
- campaigns_leadfirstevent: (campaign, lead, type) once, counted as `leads:<type>` (the file
  set `distinct_leads`, installed by engagement/migrations/0002).

PostgreSQL: statement-level triggers with transition tables, one aggregated upsert per table
and statement (a 100,000-lead import adds one row per status). Rows are upserted in key order,
so concurrent writers lock counters in the same order and cannot deadlock on them.
SQLite: row-level triggers (the database write lock already serialises writers).

The files under engagement/sql/ are generated once by `generate()` (tests/test_counter_triggers.py
checks that regenerating gives the same text) and are what migrations execute. A migration
must keep running the SQL of its own time, so a file a migration has run is never edited: a
change to the triggers is a new set of files (e.g. `counters_v2`), a migration that drops the
old triggers and runs the new files, and `CURRENT` pointing at them.

Caution (SQLite): a later migration that rebuilds leads_lead, campaigns_emailevent or
campaigns_campaign (most AlterField operations do) drops their triggers and must create them
again (`statements(CURRENT, vendor)`); the system check `engagement.E001` fails until it does."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

SQL_DIR = Path(__file__).resolve().parent / "sql"
# The file set that describes the triggers installed by the latest migration.
CURRENT = "counters"
# Between statements in the files (a function body holds semicolons).
SEPARATOR = "\n-- statement\n"

COUNTER = "campaigns_campaigncounter"
SLOTS = "campaigns_campaigneventslot"
LEAD = "leads_lead"
EVENT = "campaigns_emailevent"
CAMPAIGN = "campaigns_campaign"
# Event type → its column in SLOTS.
COLUMNS = {
    "SENT": "sent",
    "OPENED": "opened",
    "CLICKED": "clicked",
    "REPLIED": "replied",
    "BOUNCED": "bounced",
    "UNSUBSCRIBED": "unsubscribed",
}
# The start of the event's 15-minute slot (date_bin: PostgreSQL 14+).
SLOT = {
    "postgresql": "date_bin('15 minutes', {row}occurred_at, TIMESTAMPTZ '2000-01-01 00:00+00')",
    # SQLite stores datetimes as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    "sqlite": "strftime('%Y-%m-%d %H:', {row}occurred_at)"
    " || printf('%02d:00', strftime('%M', {row}occurred_at) / 15 * 15)",
}
ALL_COLUMNS = ", ".join(COLUMNS.values())
ADD_COLUMNS = ", ".join(f"{c} = {SLOTS}.{c} + EXCLUDED.{c}" for c in COLUMNS.values())


def by_type(value: str) -> str:
    """One sum per event type, in COLUMNS order."""
    return ", ".join(f"sum(CASE WHEN type = '{t}' THEN {value} ELSE 0 END)" for t in COLUMNS)


def backfill(vendor: str) -> list[str]:
    """Count the rows already there (run once, when the triggers are first installed)."""
    slot = SLOT[vendor].format(row="")
    return [
        f"""INSERT INTO {COUNTER} (campaign_id, key, value)
        SELECT campaign_id, 'lead:' || status, count(*) FROM {LEAD} GROUP BY 1, 2
        UNION ALL
        SELECT campaign_id, 'event:' || type, count(*) FROM {EVENT} GROUP BY 1, 2""",
        f"""INSERT INTO {SLOTS} (campaign_id, slot, {ALL_COLUMNS})
        SELECT campaign_id, {slot}, {by_type("1")} FROM {EVENT} GROUP BY 1, 2""",
    ]


# PostgreSQL


def pg_deltas(columns: str, group: str, op: str) -> str:
    """(group…, n): +1 per new row, -1 per old row, netted; zero nets left out."""
    new = f"SELECT {columns}, 1 AS n FROM new_rows"
    old = f"SELECT {columns}, -1 AS n FROM old_rows"
    rows = {"INSERT": new, "DELETE": old, "UPDATE": f"{new} UNION ALL {old}"}[op]
    return f"SELECT {group}, sum(n) AS n FROM ({rows}) AS d GROUP BY {group} HAVING sum(n) <> 0"


def pg_count_leads(op: str) -> str:
    return f"""
        INSERT INTO {COUNTER} (campaign_id, key, value)
        {pg_deltas("campaign_id, 'lead:' || status AS key", "campaign_id, key", op)}
        ORDER BY campaign_id, key
        ON CONFLICT (campaign_id, key) DO UPDATE SET value = {COUNTER}.value + EXCLUDED.value;"""


def pg_count_events(op: str) -> str:
    slot = SLOT["postgresql"].format(row="")
    return f"""
        INSERT INTO {COUNTER} (campaign_id, key, value)
        {pg_deltas("campaign_id, 'event:' || type AS key", "campaign_id, key", op)}
        ORDER BY campaign_id, key
        ON CONFLICT (campaign_id, key) DO UPDATE SET value = {COUNTER}.value + EXCLUDED.value;
        INSERT INTO {SLOTS} (campaign_id, slot, {ALL_COLUMNS})
        SELECT campaign_id, slot, {by_type("n")}
        FROM ({pg_deltas(f"campaign_id, {slot} AS slot, type", "campaign_id, slot, type", op)}) t
        GROUP BY campaign_id, slot ORDER BY campaign_id, slot
        ON CONFLICT (campaign_id, slot) DO UPDATE SET {ADD_COLUMNS};"""


PG_FORGET_CAMPAIGNS = f"""
        DELETE FROM {COUNTER} WHERE campaign_id IN (SELECT id FROM old_rows);
        DELETE FROM {SLOTS} WHERE campaign_id IN (SELECT id FROM old_rows);"""

PG_REFERENCING = {
    "INSERT": "NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def pg_trigger(name: str, table: str, bodies: dict[str, str]) -> list[str]:
    """A function, and one trigger per operation (a trigger with transition tables handles
    only one)."""
    branches = "\n    ELS".join(f"IF TG_OP = '{op}' THEN{body}" for op, body in bodies.items())
    function = f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {branches}
    END IF;
    RETURN NULL;
END
$$"""
    return [function] + [
        f"CREATE TRIGGER {name}_{op.lower()} AFTER {op} ON {table}"
        f" REFERENCING {PG_REFERENCING[op]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        for op in bodies
    ]


OPS = ("INSERT", "DELETE", "UPDATE")

POSTGRESQL = [
    *pg_trigger("campaigns_count_leads", LEAD, {op: pg_count_leads(op) for op in OPS}),
    *pg_trigger("campaigns_count_events", EVENT, {op: pg_count_events(op) for op in OPS}),
    *pg_trigger("campaigns_drop_counters", CAMPAIGN, {"DELETE": PG_FORGET_CAMPAIGNS}),
]

POSTGRESQL_REVERSE = [
    f"DROP FUNCTION {name}() CASCADE"
    for name in ("campaigns_count_leads", "campaigns_count_events", "campaigns_drop_counters")
]

# SQLite


def sqlite_add(row: str, key: str) -> str:
    return f"""
    INSERT INTO {COUNTER} (campaign_id, key, value) VALUES ({row}.campaign_id, {key}, 1)
    ON CONFLICT (campaign_id, key) DO UPDATE SET value = value + 1;"""


def sqlite_remove(row: str, key: str) -> str:
    # The row was counted when it was inserted: its counter is gone only with its campaign.
    return f"""
    UPDATE {COUNTER} SET value = value - 1 WHERE campaign_id = {row}.campaign_id AND key = {key};"""


def sqlite_add_slot(row: str) -> str:
    is_type = ", ".join(f"{row}.type = '{t}'" for t in COLUMNS)
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS.values())
    return f"""
    INSERT INTO {SLOTS} (campaign_id, slot, {ALL_COLUMNS})
    VALUES ({row}.campaign_id, {SLOT["sqlite"].format(row=row + ".")}, {is_type})
    ON CONFLICT (campaign_id, slot) DO UPDATE SET {add};"""


def sqlite_remove_slot(row: str) -> str:
    remove = ", ".join(f"{c} = {c} - ({row}.type = '{t}')" for t, c in COLUMNS.items())
    return f"""
    UPDATE {SLOTS} SET {remove}
    WHERE campaign_id = {row}.campaign_id AND slot = {SLOT["sqlite"].format(row=row + ".")};"""


def sqlite_triggers(
    name: str,
    table: str,
    columns: tuple[str, ...],
    add: Callable[[str], str],
    remove: Callable[[str], str],
) -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN{add('NEW')}\nEND",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN{remove('OLD')}\nEND",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table}"
        f" WHEN {changed} BEGIN{remove('OLD')}{add('NEW')}\nEND",
    ]


SQLITE = [
    *sqlite_triggers(
        "campaigns_count_leads",
        LEAD,
        ("campaign_id", "status"),
        lambda row: sqlite_add(row, f"'lead:' || {row}.status"),
        lambda row: sqlite_remove(row, f"'lead:' || {row}.status"),
    ),
    *sqlite_triggers(
        "campaigns_count_events",
        EVENT,
        ("campaign_id", "type", "occurred_at"),
        lambda row: sqlite_add(row, f"'event:' || {row}.type") + sqlite_add_slot(row),
        lambda row: sqlite_remove(row, f"'event:' || {row}.type") + sqlite_remove_slot(row),
    ),
    f"""CREATE TRIGGER campaigns_drop_counters_delete AFTER DELETE ON {CAMPAIGN} BEGIN
    DELETE FROM {COUNTER} WHERE campaign_id = OLD.id;
    DELETE FROM {SLOTS} WHERE campaign_id = OLD.id;
END""",
]

SQLITE_REVERSE = [
    f"DROP TRIGGER {name}_{op}"
    for name in ("campaigns_count_leads", "campaigns_count_events")
    for op in ("insert", "delete", "update")
] + ["DROP TRIGGER campaigns_drop_counters_delete"]


# Distinct leads (engagement/migrations/0002): the rates count leads (API.md §8), so a trigger
# on event inserts, beside the counting ones, inserts each (campaign, lead, type) once into
# FIRSTS and, for each row it did insert, adds 1 to the campaign's counter `leads:<type>`. The
# primary key decides under concurrency: two first opens of one lead racing in two
# transactions add 1, not 2. A trigger on the campaign removes its rows.

DISTINCT_LEADS = "distinct_leads"
FIRSTS = "campaigns_leadfirstevent"
KEY = "campaign_id, lead_id, type"


def pg_gone(rows: str) -> str:
    """(campaign, lead, type) of `rows` left with no event: their first-event rows go."""
    return f"""
        DELETE FROM {FIRSTS} f USING (SELECT DISTINCT {KEY} FROM {rows}) o
        WHERE f.campaign_id = o.campaign_id AND f.lead_id = o.lead_id AND f.type = o.type
          AND NOT EXISTS (SELECT 1 FROM {EVENT} e WHERE e.lead_id = o.lead_id
                          AND e.type = o.type AND e.campaign_id = o.campaign_id)
        RETURNING f.campaign_id, f.type, -1 AS n"""


def pg_new(rows: str) -> str:
    return f"""
        INSERT INTO {FIRSTS} ({KEY}, first_at)
        SELECT {KEY}, min(occurred_at) FROM {rows} GROUP BY {KEY} ORDER BY {KEY}
        ON CONFLICT ({KEY}) DO NOTHING
        RETURNING campaign_id, type, 1 AS n"""


def pg_count_distinct(*changes: str) -> str:
    ctes = ", ".join(f"c{i} AS ({sql})" for i, sql in enumerate(changes))
    rows = " UNION ALL ".join(f"SELECT * FROM c{i}" for i in range(len(changes)))
    return f"""
    WITH {ctes}
    INSERT INTO {COUNTER} (campaign_id, key, value)
    SELECT campaign_id, 'leads:' || type, sum(n) FROM ({rows}) AS d
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (campaign_id, key) DO UPDATE SET value = {COUNTER}.value + EXCLUDED.value;"""


DISTINCT_POSTGRESQL = [
    *pg_trigger(
        "campaigns_count_distinct_leads",
        EVENT,
        {
            "INSERT": pg_count_distinct(pg_new("new_rows")),
            "DELETE": pg_count_distinct(pg_gone("old_rows")),
            "UPDATE": pg_count_distinct(pg_gone("old_rows"), pg_new("new_rows")),
        },
    ),
    *pg_trigger(
        "campaigns_drop_lead_firsts",
        CAMPAIGN,
        {
            "DELETE": f"""
        DELETE FROM {FIRSTS} WHERE campaign_id IN (SELECT id FROM old_rows);"""
        },
    ),
]
DISTINCT_POSTGRESQL_REVERSE = [
    "DROP FUNCTION campaigns_count_distinct_leads() CASCADE",
    "DROP FUNCTION campaigns_drop_lead_firsts() CASCADE",
    f"DELETE FROM {COUNTER} WHERE key LIKE 'leads:%'",
]


def sqlite_same(table: str, row: str) -> str:
    return (
        f"SELECT 1 FROM {table} WHERE campaign_id = {row}.campaign_id"
        f" AND lead_id = {row}.lead_id AND type = {row}.type"
    )


def sqlite_add_first(row: str) -> str:
    return f"""
    INSERT INTO {FIRSTS} ({KEY}, first_at)
    VALUES ({row}.campaign_id, {row}.lead_id, {row}.type, {row}.occurred_at);
    INSERT INTO {COUNTER} (campaign_id, key, value)
    VALUES ({row}.campaign_id, 'leads:' || {row}.type, 1)
    ON CONFLICT (campaign_id, key) DO UPDATE SET value = value + 1;"""


def sqlite_remove_first(row: str) -> str:
    return f"""
    DELETE FROM {FIRSTS} WHERE campaign_id = {row}.campaign_id
        AND lead_id = {row}.lead_id AND type = {row}.type;
    UPDATE {COUNTER} SET value = value - 1
    WHERE campaign_id = {row}.campaign_id AND key = 'leads:' || {row}.type;"""


DISTINCT_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}" for c in ("campaign_id", "lead_id", "type")
)
DISTINCT_SQLITE = [
    f"""CREATE TRIGGER campaigns_count_distinct_leads_insert AFTER INSERT ON {EVENT}
WHEN NOT EXISTS ({sqlite_same(FIRSTS, "NEW")}) BEGIN{sqlite_add_first("NEW")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_delete AFTER DELETE ON {EVENT}
WHEN NOT EXISTS ({sqlite_same(EVENT, "OLD")}) BEGIN{sqlite_remove_first("OLD")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_update_old
AFTER UPDATE OF campaign_id, lead_id, type ON {EVENT}
WHEN ({DISTINCT_CHANGED}) AND NOT EXISTS ({sqlite_same(EVENT, "OLD")})
BEGIN{sqlite_remove_first("OLD")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_update_new
AFTER UPDATE OF campaign_id, lead_id, type ON {EVENT}
WHEN ({DISTINCT_CHANGED}) AND NOT EXISTS ({sqlite_same(FIRSTS, "NEW")})
BEGIN{sqlite_add_first("NEW")}
END""",
    f"""CREATE TRIGGER campaigns_drop_lead_firsts_delete AFTER DELETE ON {CAMPAIGN} BEGIN
    DELETE FROM {FIRSTS} WHERE campaign_id = OLD.id;
END""",
]
DISTINCT_SQLITE_REVERSE = [
    *(
        f"DROP TRIGGER campaigns_count_distinct_leads_{name}"
        for name in ("insert", "delete", "update_old", "update_new")
    ),
    "DROP TRIGGER campaigns_drop_lead_firsts_delete",
    f"DELETE FROM {COUNTER} WHERE key LIKE 'leads:%'",
]


def distinct_backfill(vendor: str) -> list[str]:
    """The events already there, counted once (the second statement alone rebuilds the
    counters from the first-event rows)."""
    return [
        f"""INSERT INTO {FIRSTS} ({KEY}, first_at)
        SELECT {KEY}, min(occurred_at) FROM {EVENT} GROUP BY {KEY}""",
        f"""INSERT INTO {COUNTER} (campaign_id, key, value)
        SELECT campaign_id, 'leads:' || type, count(*) FROM {FIRSTS} GROUP BY 1, 2""",
    ]


PARTS: dict[str, Callable[[str], list[str]]] = {
    "": lambda vendor: {"postgresql": POSTGRESQL, "sqlite": SQLITE}[vendor],
    "_backfill": backfill,
    "_drop": lambda vendor: {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}[vendor],
}
DISTINCT_PARTS: dict[str, Callable[[str], list[str]]] = {
    "": lambda vendor: {"postgresql": DISTINCT_POSTGRESQL, "sqlite": DISTINCT_SQLITE}[vendor],
    "_backfill": distinct_backfill,
    "_drop": lambda vendor: {
        "postgresql": DISTINCT_POSTGRESQL_REVERSE,
        "sqlite": DISTINCT_SQLITE_REVERSE,
    }[vendor],
}
# Every file set whose triggers the latest migrations leave installed, with its generator.
INSTALLED: dict[str, dict[str, Callable[[str], list[str]]]] = {
    CURRENT: PARTS,
    DISTINCT_LEADS: DISTINCT_PARTS,
}
VENDORS = ("postgresql", "sqlite")


def path(name: str, vendor: str, part: str = "") -> Path:
    return SQL_DIR / f"{name}{part}.{vendor}.sql"


def generate(vendor: str, part: str = "", name: str = CURRENT) -> str:
    """The text of `path(name, vendor, part)`: `part` "" creates the triggers, "_backfill"
    counts the rows already there, "_drop" removes the triggers."""
    call = f"{vendor!r}, {part!r}" + (f", {name!r}" if name != CURRENT else "")
    header = (
        f"-- Generated by engagement.triggers.generate({call}); do not edit"
        " (see engagement/triggers.py)."
    )
    parts = INSTALLED[name][part](vendor)
    return header + SEPARATOR + SEPARATOR.join(s.strip() + ";" for s in parts) + "\n"


def write_files() -> None:
    """Regenerate every installed file set (by hand: `python -c "...write_files()"`)."""
    for name, parts in INSTALLED.items():
        for vendor in VENDORS:
            for part in parts:
                path(name, vendor, part).write_text(generate(vendor, part, name))


def statements(name: str, vendor: str, part: str = "") -> list[str]:
    """The SQL statements of one checked-in file, to execute one by one."""
    chunks = path(name, vendor, part).read_text().split(SEPARATOR)[1:]
    return [chunk.strip() for chunk in chunks if chunk.strip()]


def trigger_table(create_trigger: str) -> str:
    """The table a CREATE TRIGGER statement is on (the word after the first ON)."""
    words = create_trigger.split()
    return words[words.index("ON") + 1]


def recreate_sqlite_triggers(schema_editor: Any, table: str, name: str) -> None:
    """For a migration that made SQLite rebuild `table` (which drops its triggers): create the
    table's triggers of the checked-in file `name` again. PostgreSQL keeps them: nothing to do."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in statements(name, "sqlite"):
        if sql.startswith("CREATE TRIGGER ") and trigger_table(sql) == table:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {sql.split()[2]}", params=None)
            schema_editor.execute(sql, params=None)


def expected_triggers(vendor: str, name: str | None = None) -> set[str]:
    """The trigger names the file set `name` creates (default: every INSTALLED set)."""
    return {
        statement.split()[2]
        for each in ([name] if name else INSTALLED)
        for statement in statements(each, vendor)
        if statement.startswith("CREATE TRIGGER ")
    }


def installed_triggers(connection: BaseDatabaseWrapper) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {row[0] for row in cursor.fetchall()}


def missing_triggers(connection: BaseDatabaseWrapper) -> set[str]:
    return expected_triggers(connection.vendor) - installed_triggers(connection)
