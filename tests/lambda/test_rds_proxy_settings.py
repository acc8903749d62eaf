"""Behind RDS Proxy Gatehouse's connections carry no session state of their own making.

The proxy pins a client connection to one database connection when the session changes
state (SET, set_config, PREPARE, cursors WITH HOLD...). These tests open a connection the
way the trigger function does with DB_BEHIND_PROXY=true and read what the server saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import environ
import pytest
from django.db import connection

from backoffice.database import database_config


@pytest.fixture
def database_time_zone(transactional_db: None) -> Iterator[Any]:
    """Set TimeZone on the test database, as docs/rds-proxy.md sets it on the role (shared here)."""
    name = connection.settings_dict["NAME"]

    def set_to(zone: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" SET "TimeZone" TO %s', [zone])

    yield set_to
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" RESET "TimeZone"')


def _proxied_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """A fresh connection configured as the trigger function's is with DB_BEHIND_PROXY=true."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    s = connection.settings_dict
    if s["HOST"].startswith("/"):  # a Unix socket directory (the embedded server)
        url = f"postgres://{s['USER']}@/{s['NAME']}?host={s['HOST']}"
    else:
        url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DB_BEHIND_PROXY", "true")
    config = database_config(environ.Env(), tmp_path)
    config.update({"NAME": s["NAME"], "PASSWORD": s["PASSWORD"]})
    # A wrapper outside the connection registry, under the alias whose type OIDs
    # django.contrib.postgres has already looked up (it caches them per alias): what the
    # server sees from it is what Django sends on connect, and nothing else.
    probe = DatabaseWrapper(s | config, alias="default")
    probe.ensure_connection()
    return probe


def _last_statement_of(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_connecting_behind_the_proxy_sends_no_statement_when_the_role_time_zone_matches(
    database_time_zone: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    database_time_zone("UTC")

    probe = _proxied_connection(monkeypatch, tmp_path)
    try:
        pid = probe.connection.info.backend_pid

        # Nothing ran on the session: no SET, no set_config('TimeZone'), no SET ROLE.
        assert _last_statement_of(pid) == ""
        assert "options" not in probe.connection.info.get_parameters()
        assert probe.connection.info.parameter_status("TimeZone") == "UTC"
    finally:
        probe.close()


def test_queries_behind_the_proxy_leave_no_prepared_statement_and_use_no_server_side_cursor(
    database_time_zone: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    database_time_zone("UTC")
    probe = _proxied_connection(monkeypatch, tmp_path)
    try:
        for _ in range(10):  # psycopg prepares a query on its 5th run unless prepare_threshold is None
            with probe.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM django_migrations WHERE app = %s", ["tenants"])

        with probe.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            prepared = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_cursors")
            cursors = cursor.fetchone()[0]

        assert (prepared, cursors) == (0, 0)
        assert probe.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
    finally:
        probe.close()


def test_a_role_time_zone_other_than_django_s_makes_django_set_it_which_would_pin(
    database_time_zone: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The control: the probe does see a statement Django sends on connect.
    database_time_zone("Europe/Paris")

    probe = _proxied_connection(monkeypatch, tmp_path)
    try:
        assert "set_config('TimeZone'" in _last_statement_of(probe.connection.info.backend_pid)
    finally:
        probe.close()
