"""The models moved from campaigns (campaigns.0004), on their existing tables."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('campaigns', '0004_move_events_to_engagement'),
        ('leads', '0002_drop_redundant_fk_indexes'),
        ('sender_accounts', '0002_sender_account_limits'),
    ]

    # State only: the tables already exist (campaigns.0001-0003 made them, with their rows and
    # the counter triggers, which name them as text): the models keep their db_table.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CampaignCounter',
                    fields=[
                        ('pk', models.CompositePrimaryKey('campaign_id', 'key', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('key', models.CharField(max_length=32)),
                        ('value', models.BigIntegerField(default=0)),
                        ('campaign', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign')),
                    ],
                    options={
                        'db_table': 'campaigns_campaigncounter',
                    },
                ),
                migrations.CreateModel(
                    name='CampaignEventSlot',
                    fields=[
                        ('pk', models.CompositePrimaryKey('campaign_id', 'slot', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('slot', models.DateTimeField(help_text='The start of the slot, UTC.')),
                        ('sent', models.BigIntegerField(default=0)),
                        ('opened', models.BigIntegerField(default=0)),
                        ('clicked', models.BigIntegerField(default=0)),
                        ('replied', models.BigIntegerField(default=0)),
                        ('bounced', models.BigIntegerField(default=0)),
                        ('unsubscribed', models.BigIntegerField(default=0)),
                        ('campaign', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign')),
                    ],
                    options={
                        'db_table': 'campaigns_campaigneventslot',
                    },
                ),
                migrations.CreateModel(
                    name='EmailEvent',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('type', models.CharField(choices=[('SENT', 'Sent'), ('OPENED', 'Opened'), ('CLICKED', 'Clicked'), ('REPLIED', 'Replied'), ('BOUNCED', 'Bounced'), ('UNSUBSCRIBED', 'Unsubscribed')], max_length=12)),
                        ('occurred_at', models.DateTimeField()),
                        ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='campaigns.campaign')),
                        ('lead', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='leads.lead')),
                        ('sender_account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='sender_accounts.senderaccount')),
                        ('step', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='campaigns.campaignstep')),
                    ],
                    options={
                        'db_table': 'campaigns_emailevent',
                        'indexes': [models.Index(fields=['campaign', 'type', 'occurred_at'], name='event_campaign_type_time'), models.Index(fields=['lead', 'type'], name='event_lead_type'), models.Index(fields=['sender_account', 'type', 'occurred_at'], name='event_sender_type_time')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
