"""Index django-tasks-db results by when they finished: the drain prunes them by age.

The model is django-tasks-db's, so the index is plain SQL here (no state change), built
CONCURRENTLY so the enqueues of `make worker` deployments never wait on it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("outbox", "0006_side_effect_throttles"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_task_result_finished "
            "ON django_tasks_database_dbtaskresult (finished_at) WHERE finished_at IS NOT NULL",
            "DROP INDEX CONCURRENTLY IF EXISTS outbox_task_result_finished",
        ),
    ]
