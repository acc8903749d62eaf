"""The trigram migration says so when it skips its indexes (pgserver has no pg_trgm)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

migration = importlib.import_module("tenants.migrations.0003_search_trigram_indexes")


def _without_pg_trgm(execute, sql, params, many, context):
    # This server has pg_trgm: answer its availability query as pgserver's would (no row).
    if "pg_available_extensions" in sql:
        sql = "SELECT 1 WHERE false"
    return execute(sql, params, many, context)


def test_the_migration_prints_that_it_skipped_the_indexes(capsys):
    with connection.execute_wrapper(_without_pg_trgm), connection.schema_editor() as editor:
        migration.create_indexes(apps, editor)

    assert "pg_trgm is not available on this server: the trigram search indexes are skipped" in (
        capsys.readouterr().out
    )


def test_the_migration_is_quiet_when_it_makes_them(capsys):
    with connection.schema_editor() as editor:
        migration.create_indexes(apps, editor)

    assert capsys.readouterr().out == ""
