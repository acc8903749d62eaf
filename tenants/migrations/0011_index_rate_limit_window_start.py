"""Index rate-limit windows by their start: the drain prunes them by age.

CREATE INDEX CONCURRENTLY (outside a transaction): every sign-up writes this table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenants", "0010_audit_events_and_id_tokens_per_client"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ratelimitcounter",
            index=models.Index(fields=["window_start"], name="rate_limit_window_start"),
        ),
    ]
