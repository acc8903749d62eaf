"""Trigram indexes for the admin's search on the big tables, where pg_trgm exists.

The admin's search is `icontains`, which Django emits on Postgres as
UPPER(col::text) LIKE UPPER('%q%'); a GIN index on UPPER(col) gin_trgm_ops serves it.
pg_trgm ships with PostgreSQL's contrib (RDS and Debian have it; it is a trusted extension,
so the database owner may create it), but the embedded development server (pgserver)
does not: there the indexes are skipped and search simply scans, which is fine at
development sizes. The indexes are therefore not declared on the models.
"""

import sys

from django.db import migrations

INDEXES = {
    "company_name_trgm": ("tenants_company", ["name"]),
    "profile_search_trgm": ("tenants_userprofile", ["email", "username", "given_name", "family_name"]),
    "workspace_name_trgm": ("tenants_workspace", ["name"]),
    "known_device_description_trgm": ("tenants_knowndevice", ["description"]),
    "invitation_email_trgm": ("invites_invitation", ["email"]),
    "refusal_search_trgm": ("invites_signuprefusal", ["email", "detail"]),
    "side_effect_key_trgm": ("outbox_sideeffect", ["key"]),
}


def create_indexes(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            # Said, not silent: migrate would print OK for a migration that made nothing.
            sys.stdout.write(
                "\n  pg_trgm is not available on this server: the trigram search indexes are skipped "
                "(admin search scans instead; fine at development sizes)."
            )
            return
        # Building GIN indexes on big tables outlasts the 3 s timeout meant for triggers.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, (table, columns) in INDEXES.items():
            expressions = ", ".join(f'(UPPER("{column}")) gin_trgm_ops' for column in columns)
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ({expressions})')


def drop_indexes(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_staff_groups"),
        ("invites", "0001_initial"),
        ("outbox", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
