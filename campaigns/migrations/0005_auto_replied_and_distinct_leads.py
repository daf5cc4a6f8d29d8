"""Event type AUTO_REPLIED, and the distinct-lead counters the rates divide (API.md §8:
open_rate = leads with at least one OPENED / leads with at least one SENT).

A trigger on event inserts, separate from the counting triggers of 0003, inserts each
(lead, type) once into campaigns_leadfirstevent; for each row it did insert, it adds 1 to the
campaign's counter `leads:<type>`. The primary key (lead, type) decides under concurrency: two
first opens of one lead racing in two transactions add 1, not 2. A trigger on the campaign
removes its rows. Moving this to the engagement app: keep the table names.

Caution (SQLite): a later migration that rebuilds campaigns_emailevent or campaigns_campaign
drops these triggers too and must create them again."""

import django.db.models.deletion
from django.db import migrations, models


COUNTER = "campaigns_campaigncounter"
FIRSTS = "campaigns_leadfirstevent"
EVENT = "campaigns_emailevent"
CAMPAIGN = "campaigns_campaign"
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


def pg_count(*changes: str) -> str:
    ctes = ", ".join(f"c{i} AS ({sql})" for i, sql in enumerate(changes))
    rows = " UNION ALL ".join(f"SELECT * FROM c{i}" for i in range(len(changes)))
    return f"""
    WITH {ctes}
    INSERT INTO {COUNTER} (campaign_id, key, value)
    SELECT campaign_id, 'leads:' || type, sum(n) FROM ({rows}) AS d
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (campaign_id, key) DO UPDATE SET value = {COUNTER}.value + EXCLUDED.value;"""


PG_BODIES = {
    "INSERT": pg_count(pg_new("new_rows")),
    "DELETE": pg_count(pg_gone("old_rows")),
    "UPDATE": pg_count(pg_gone("old_rows"), pg_new("new_rows")),
}
PG_REFERENCING = {
    "INSERT": "NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}
PG_BRANCHES = "\n    ELS".join(f"IF TG_OP = '{op}' THEN{body}" for op, body in PG_BODIES.items())

POSTGRESQL = [
    f"LOCK TABLE {EVENT} IN SHARE MODE",
    f"""CREATE FUNCTION campaigns_count_distinct_leads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {PG_BRANCHES}
    END IF;
    RETURN NULL;
END
$$""",
    *(
        f"CREATE TRIGGER campaigns_count_distinct_leads_{op.lower()} AFTER {op} ON {EVENT}"
        f" REFERENCING {PG_REFERENCING[op]} FOR EACH STATEMENT"
        " EXECUTE FUNCTION campaigns_count_distinct_leads()"
        for op in PG_BODIES
    ),
    f"""CREATE FUNCTION campaigns_drop_lead_firsts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {FIRSTS} WHERE campaign_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END
$$""",
    f"CREATE TRIGGER campaigns_drop_lead_firsts_delete AFTER DELETE ON {CAMPAIGN}"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION campaigns_drop_lead_firsts()",
]
POSTGRESQL_REVERSE = [
    "DROP FUNCTION campaigns_count_distinct_leads() CASCADE",
    "DROP FUNCTION campaigns_drop_lead_firsts() CASCADE",
    f"DELETE FROM {COUNTER} WHERE key LIKE 'leads:%'",
]


def sqlite_same(table: str, row: str) -> str:
    return (
        f"SELECT 1 FROM {table} WHERE campaign_id = {row}.campaign_id"
        f" AND lead_id = {row}.lead_id AND type = {row}.type"
    )


def sqlite_add(row: str) -> str:
    return f"""
    INSERT INTO {FIRSTS} ({KEY}, first_at)
    VALUES ({row}.campaign_id, {row}.lead_id, {row}.type, {row}.occurred_at);
    INSERT INTO {COUNTER} (campaign_id, key, value)
    VALUES ({row}.campaign_id, 'leads:' || {row}.type, 1)
    ON CONFLICT (campaign_id, key) DO UPDATE SET value = value + 1;"""


def sqlite_remove(row: str) -> str:
    return f"""
    DELETE FROM {FIRSTS} WHERE campaign_id = {row}.campaign_id
        AND lead_id = {row}.lead_id AND type = {row}.type;
    UPDATE {COUNTER} SET value = value - 1
    WHERE campaign_id = {row}.campaign_id AND key = 'leads:' || {row}.type;"""


CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("campaign_id", "lead_id", "type"))
SQLITE = [
    f"""CREATE TRIGGER campaigns_count_distinct_leads_insert AFTER INSERT ON {EVENT}
WHEN NOT EXISTS ({sqlite_same(FIRSTS, "NEW")}) BEGIN{sqlite_add("NEW")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_delete AFTER DELETE ON {EVENT}
WHEN NOT EXISTS ({sqlite_same(EVENT, "OLD")}) BEGIN{sqlite_remove("OLD")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_update_old
AFTER UPDATE OF campaign_id, lead_id, type ON {EVENT}
WHEN ({CHANGED}) AND NOT EXISTS ({sqlite_same(EVENT, "OLD")}) BEGIN{sqlite_remove("OLD")}
END""",
    f"""CREATE TRIGGER campaigns_count_distinct_leads_update_new
AFTER UPDATE OF campaign_id, lead_id, type ON {EVENT}
WHEN ({CHANGED}) AND NOT EXISTS ({sqlite_same(FIRSTS, "NEW")}) BEGIN{sqlite_add("NEW")}
END""",
    f"""CREATE TRIGGER campaigns_drop_lead_firsts_delete AFTER DELETE ON {CAMPAIGN} BEGIN
    DELETE FROM {FIRSTS} WHERE campaign_id = OLD.id;
END""",
]
SQLITE_REVERSE = [
    *(
        f"DROP TRIGGER campaigns_count_distinct_leads_{name}"
        for name in ("insert", "delete", "update_old", "update_new")
    ),
    "DROP TRIGGER campaigns_drop_lead_firsts_delete",
    f"DELETE FROM {COUNTER} WHERE key LIKE 'leads:%'",
]
TRIGGERS = {
    "postgresql": [
        *(f"campaigns_count_distinct_leads_{op}" for op in ("insert", "delete", "update")),
        "campaigns_drop_lead_firsts_delete",
    ],
    "sqlite": [
        *(
            f"campaigns_count_distinct_leads_{name}"
            for name in ("insert", "delete", "update_old", "update_new")
        ),
        "campaigns_drop_lead_firsts_delete",
    ],
}
# The events already there, counted once (the second statement alone rebuilds the counters).
BACKFILL = [
    f"""INSERT INTO {FIRSTS} ({KEY}, first_at)
    SELECT {KEY}, min(occurred_at) FROM {EVENT} GROUP BY {KEY}""",
    f"""INSERT INTO {COUNTER} (campaign_id, key, value)
    SELECT campaign_id, 'leads:' || type, count(*) FROM {FIRSTS} GROUP BY 1, 2""",
]
SQL = {"postgresql": (POSTGRESQL, POSTGRESQL_REVERSE), "sqlite": (SQLITE, SQLITE_REVERSE)}


def create_triggers(apps, schema_editor) -> None:
    for sql in SQL[schema_editor.connection.vendor][0] + BACKFILL:
        schema_editor.execute(sql, params=None)


def drop_triggers(apps, schema_editor) -> None:
    for sql in SQL[schema_editor.connection.vendor][1]:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_delivery_settings"),
        ("leads", "0003_delivery_state"),
    ]

    operations = [
        migrations.AlterField(
            model_name="emailevent",
            name="type",
            field=models.CharField(
                choices=[
                    ("SENT", "Sent"),
                    ("OPENED", "Opened"),
                    ("CLICKED", "Clicked"),
                    ("REPLIED", "Replied"),
                    ("BOUNCED", "Bounced"),
                    ("UNSUBSCRIBED", "Unsubscribed"),
                    ("AUTO_REPLIED", "Auto Replied"),
                ],
                max_length=12,
            ),
        ),
        migrations.CreateModel(
            name="LeadFirstEvent",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "campaign_id",
                        "lead_id",
                        "type",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("type", models.CharField(max_length=12)),
                (
                    "first_at",
                    models.DateTimeField(
                        help_text="When the lead's first event of the type occurred."
                    ),
                ),
                (
                    "campaign",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="campaigns.campaign",
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="leads.lead",
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
