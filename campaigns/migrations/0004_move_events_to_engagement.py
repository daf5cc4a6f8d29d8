"""EmailEvent, CampaignCounter and CampaignEventSlot move to the engagement app."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_counters'),
    ]

    # State only: the tables stay, with their rows and triggers; engagement.0001 takes them over
    # under the same names (db_table), so nothing is copied or dropped.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='campaigneventslot',
                    name='campaign',
                ),
                migrations.RemoveField(
                    model_name='emailevent',
                    name='campaign',
                ),
                migrations.RemoveField(
                    model_name='emailevent',
                    name='lead',
                ),
                migrations.RemoveField(
                    model_name='emailevent',
                    name='sender_account',
                ),
                migrations.RemoveField(
                    model_name='emailevent',
                    name='step',
                ),
                migrations.DeleteModel(
                    name='CampaignCounter',
                ),
                migrations.DeleteModel(
                    name='CampaignEventSlot',
                ),
                migrations.DeleteModel(
                    name='EmailEvent',
                ),
            ],
            database_operations=[],
        ),
    ]
