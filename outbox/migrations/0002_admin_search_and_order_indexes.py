# Indexes for the admin at scale (issue 8, bench/admin_scale.py): the default order of the
# changelists and trigram GIN indexes matching the expression Django's admin search emits,
# UPPER(col::text) LIKE UPPER('%q%'). Built CONCURRENTLY so a deploy does not block writes
# to the tables while they build (hence atomic = False). The connection's statement_timeout
# (DB_STATEMENT_TIMEOUT_MS, 3 s, meant for triggers) is lifted for the builds: a GIN index
# on a few hundred thousand rows takes longer.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("outbox", "0001_initial"),
        ("tenants", "0003_admin_search_and_order_indexes"),
    ]

    operations = [
        migrations.RunSQL("SET statement_timeout = 0", reverse_sql="RESET statement_timeout"),
        AddIndexConcurrently(
            model_name="sideeffect",
            index=models.Index(fields=["created_at", "id"], name="side_effect_created"),
        ),
        AddIndexConcurrently(
            model_name="sideeffect",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("key"), name="gin_trgm_ops"
                ),
                name="side_effect_key_trgm",
            ),
        ),
        migrations.RunSQL("RESET statement_timeout", reverse_sql="SET statement_timeout = 0"),
    ]
