"""Event type AUTO_REPLIED, and the distinct-lead counters the rates divide (API.md §8:
open_rate = leads with at least one OPENED / leads with at least one SENT): the table
campaigns_leadfirstevent and the triggers of the file set `distinct_leads` under
engagement/sql/ (engagement/triggers.py explains them).

After leads 0003 and campaigns 0005, which make SQLite rebuild leads_lead and
campaigns_campaign; a later migration that rebuilds campaigns_emailevent or campaigns_campaign
must create these triggers again (recreate_sqlite_triggers(..., "distinct_leads"))."""

import django.db.models.deletion
from django.db import migrations, models

from engagement import triggers

# The files as checked in for this migration (never edited once run; a change adds new files).
FILES = "distinct_leads"


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # Events already there are counted once, while writes to events are blocked.
        schema_editor.execute("LOCK TABLE campaigns_emailevent IN SHARE MODE")
    for part in ("", "_backfill"):
        for sql in triggers.statements(FILES, vendor, part):
            schema_editor.execute(sql, params=None)


def drop_triggers(apps, schema_editor) -> None:
    for sql in triggers.statements(FILES, schema_editor.connection.vendor, "_drop"):
        schema_editor.execute(sql, params=None)


def unconstrained(to: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0001_initial"),
        ("campaigns", "0005_delivery_settings"),
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
                ("campaign", unconstrained("campaigns.campaign")),
                ("lead", unconstrained("leads.lead")),
            ],
            options={"db_table": "campaigns_leadfirstevent"},
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
