"""LoginCode moves here from triggers with its table (triggers_logincode) and its rows.

State only: the table was created by triggers 0001 and is neither renamed nor copied, so a
deploy moves no data and the previous release's trigger code keeps reading the same table.
"""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("triggers", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LoginCode",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        (
                            "username",
                            models.CharField(
                                help_text="Cognito userName the code was sent for.", max_length=128
                            ),
                        ),
                        ("cognito_sub", models.CharField(blank=True, max_length=64)),
                        ("code_hash", models.CharField(editable=False, max_length=64)),
                        ("expires_at", models.DateTimeField()),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("used_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "triggers_logincode",
                        "ordering": ["-created_at"],
                        "indexes": [models.Index(fields=["expires_at"], name="login_code_expiry")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
