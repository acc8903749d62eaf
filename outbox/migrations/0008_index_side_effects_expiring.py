"""Index waiting effects by expiry: the drain scrubs the expired ones every run.

CREATE INDEX CONCURRENTLY (outside a transaction): every trigger writes this table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("outbox", "0007_index_task_results_finished"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="sideeffect",
            index=models.Index(
                condition=models.Q(status__in=["pending", "in_flight"], expires_at__isnull=False),
                fields=["expires_at"],
                name="side_effect_expiring",
            ),
        ),
    ]
