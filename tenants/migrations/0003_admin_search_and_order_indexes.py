# Indexes for the admin at scale (issue 8, bench/admin_scale.py): the default order of the
# changelists and trigram GIN indexes matching the expression Django's admin search emits,
# UPPER(col::text) LIKE UPPER('%q%'). Built CONCURRENTLY so a deploy does not block writes
# to the tables while they build (hence atomic = False). The connection's statement_timeout
# (DB_STATEMENT_TIMEOUT_MS, 3 s, meant for triggers) is lifted for the builds: a GIN index
# on a few hundred thousand rows takes longer.

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models
from django.db.models.functions import Upper


def trigram(*columns: str, name: str) -> GinIndex:
    return GinIndex(*(OpClass(Upper(column), name="gin_trgm_ops") for column in columns), name=name)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenants", "0002_staff_groups"),
    ]

    operations = [
        migrations.RunSQL("SET statement_timeout = 0", reverse_sql="RESET statement_timeout"),
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        TrigramExtension(),
        AddIndexConcurrently(model_name="company", index=trigram("name", name="company_name_trgm")),
        AddIndexConcurrently(
            model_name="userprofile",
            index=models.Index(fields=["created_at", "id"], name="profile_created"),
        ),
        AddIndexConcurrently(
            model_name="userprofile",
            index=trigram("email", "username", "given_name", "family_name", name="profile_search_trgm"),
        ),
        AddIndexConcurrently(model_name="workspace", index=trigram("name", name="workspace_name_trgm")),
        AddIndexConcurrently(
            model_name="knowndevice",
            index=trigram("description", name="known_device_description_trgm"),
        ),
        AddIndexConcurrently(model_name="role", index=models.Index(fields=["key", "-id"], name="role_order")),
        AddIndexConcurrently(
            model_name="legacyuser",
            index=models.Index(fields=["email", "-id"], name="legacy_user_order"),
        ),
        migrations.RunSQL("RESET statement_timeout", reverse_sql="SET statement_timeout = 0"),
    ]
