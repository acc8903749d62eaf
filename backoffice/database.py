"""Where Gatehouse's Postgres is: DATABASE_URL, or an embedded server for local use."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

NO_DATABASE_HELP = (
    "Gatehouse needs PostgreSQL. Set DATABASE_URL (for example "
    "postgres://postgres@127.0.0.1:5432/gatehouse), or install the development "
    "requirements (`pip install -r requirements-dev.txt`) so that an embedded "
    "Postgres (pgserver) can start in .local/pgdata/."
)


# Everything `make run` keeps between runs (the embedded Postgres, the emulators' data, logs)
# lives in this one git-ignored folder, so `make reset` is one rm -rf (scripts/run_local.py).
LOCAL_DIR_NAME = ".local"


def embedded_pgdata(base_dir: Path) -> Path:
    # GATEHOUSE_LOCAL_DIR: the same override scripts/run_local.py reads.
    return Path(os.environ.get("GATEHOUSE_LOCAL_DIR") or base_dir / LOCAL_DIR_NAME) / "pgdata"


def embedded_database_url(base_dir: Path) -> str:
    """Start (or reuse) the embedded Postgres kept in .local/pgdata/ and return its URL."""
    # pgserver's platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, CI).
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"gatehouse-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        from pgserver.postgres_server import get_server
    except ImportError as exc:
        raise ImproperlyConfigured(NO_DATABASE_HELP) from exc
    # cleanup_mode=None: the server outlives this process and is reused by the next one.
    pgdata = embedded_pgdata(base_dir)
    pgdata.parent.mkdir(exist_ok=True)
    get_server(pgdata, cleanup_mode=None)
    # The server listens only on a Unix socket inside pgdata.
    return f"postgres://postgres@/postgres?host={pgdata}"


def database_config(env: environ.Env, base_dir: Path) -> dict[str, Any]:
    """Django's DATABASES["default"] from the environment (DATABASE_URL, DB_* variables)."""
    url = env.str("DATABASE_URL", default="")
    if not url:
        url = embedded_database_url(base_dir)
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise ImproperlyConfigured(f"DATABASE_URL must point at PostgreSQL. {NO_DATABASE_HELP}")
    config: dict[str, Any] = env.db_url_config(url)
    options = config.setdefault("OPTIONS", {})
    if not config.get("HOST") and options.get("host"):
        # A socket directory given as ?host=... (the embedded server's form).
        config["HOST"] = options.pop("host")
    # Fail fast: Cognito waits 5 s for a trigger, so a hung connect must give up early.
    options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=2))
    # Prepared statements pin sessions behind RDS Proxy / PgBouncer (transaction mode).
    options.setdefault("prepare_threshold", None)
    statement_timeout_ms = env.int("DB_STATEMENT_TIMEOUT_MS", default=3000)
    if statement_timeout_ms and not env.bool("DB_BEHIND_PROXY", default=False):
        # A startup parameter, not a SET after connect. Behind RDS Proxy nothing session-level
        # is sent at all, not even startup options: set statement_timeout and TimeZone on the
        # database role instead (ALTER ROLE ... SET), see docs/rds-proxy.md. With the role's
        # TimeZone equal to settings.TIME_ZONE, Django's backend skips its set_config too.
        options.setdefault("options", f"-c statement_timeout={statement_timeout_ms}")
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    # A connection frozen with the Lambda container may be dead on thaw: ping before use.
    config["CONN_HEALTH_CHECKS"] = True
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Two checkouts testing against one server each get their own test database (named after
    # the database they point at), instead of dropping each other's test_gatehouse.
    name = str(config.get("NAME") or "")
    default_test_name = "test_gatehouse" if name in ("", "postgres", "gatehouse") else f"test_{name}"
    config.setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default=default_test_name)
    return config
