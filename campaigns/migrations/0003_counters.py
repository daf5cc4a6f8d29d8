"""Per-campaign counters kept by database triggers (engagement/triggers.py explains them), and
the triggers themselves, from the SQL files checked in under engagement/sql/.

Caution (SQLite): a later migration that rebuilds leads_lead, campaigns_emailevent or
campaigns_campaign (most AlterField operations do) drops their triggers and must create them
again; the system check engagement.E001 and tests/test_counter_triggers.py fail if it does not."""

import django.db.models.deletion
from django.db import migrations, models

from engagement import triggers

# The SQL of the files as checked in for this migration (see engagement/triggers.py: these
# files are never edited once a migration has run them; a change adds new files).
FILES = "counters"
COLUMNS = ("sent", "opened", "clicked", "replied", "bounced", "unsubscribed")


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # Rows already there are counted once, while writes to leads and events are blocked.
        schema_editor.execute("LOCK TABLE leads_lead, campaigns_emailevent IN SHARE MODE")
    for part in ("", "_backfill"):
        for sql in triggers.statements(FILES, vendor, part):
            schema_editor.execute(sql, params=None)


def drop_triggers(apps, schema_editor) -> None:
    for sql in triggers.statements(FILES, schema_editor.connection.vendor, "_drop"):
        schema_editor.execute(sql, params=None)


def counter_field() -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to="campaigns.campaign",
    )


def composite_pk(*fields: str) -> models.CompositePrimaryKey:
    return models.CompositePrimaryKey(
        *fields, blank=True, editable=False, primary_key=True, serialize=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_initial"),
        # After it: on SQLite it rebuilds leads_lead, which drops the table's triggers.
        ("leads", "0002_drop_redundant_fk_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="CampaignCounter",
            fields=[
                ("pk", composite_pk("campaign_id", "key")),
                ("key", models.CharField(max_length=32)),
                ("value", models.BigIntegerField(default=0)),
                ("campaign", counter_field()),
            ],
        ),
        migrations.CreateModel(
            name="CampaignEventSlot",
            fields=[
                ("pk", composite_pk("campaign_id", "slot")),
                ("slot", models.DateTimeField(help_text="The start of the slot, UTC.")),
                *((column, models.BigIntegerField(default=0)) for column in COLUMNS),
                ("campaign", counter_field()),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
