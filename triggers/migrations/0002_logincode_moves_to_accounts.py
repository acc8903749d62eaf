"""LoginCode belongs to the accounts flows now: Django forgets it here, the table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0001_initial"),
        ("accounts", "0001_logincode_from_triggers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="LoginCode")],
            database_operations=[],
        ),
    ]
