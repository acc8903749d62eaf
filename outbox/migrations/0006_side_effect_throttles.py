"""Count throttled calls apart from attempts: a throttle did nothing and never gives an effect up.

A column with a database default: old code that inserts without it still works (expand).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0005_cognito_delete_user_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="sideeffect",
            name="throttles",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
