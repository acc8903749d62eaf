"""Shared plumbing for the benchmarks: the scratch database, child processes, timing and rows.

Every section runs in its own child process (Django settings are per process, and the
trigger sections must load backoffice.settings_triggers as Lambda does) and reports
its rows as JSON lines prefixed with ROW_PREFIX on stdout; bench/run.py prints them
as one table.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
PYTHON = sys.executable
ROW_PREFIX = "BENCHROW "
# The only databases the bench creates, migrates, loads and drops. BENCH_DB_SUFFIX gives
# each engineer sharing a Postgres server a database of their own (bench_gatehouse_<suffix>).
BENCH_DB_PREFIX = "bench_gatehouse"
BENCH_DB = BENCH_DB_PREFIX + (
    f"_{os.environ['BENCH_DB_SUFFIX']}" if os.environ.get("BENCH_DB_SUFFIX") else ""
)
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# Nothing listens on the discard port: a side effect that tried AWS inline would fail fast
# and show up as a slow row, never reach a real service.
NOWHERE = "http://127.0.0.1:9"


# --- Databases -----------------------------------------------------------------------


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL


def db_url(name: str) -> str:
    """The server's URL with another database name (query string, e.g. ?host=, kept)."""
    parts = urlsplit(server_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def psycopg_conninfo(name: str) -> str:
    url = db_url(name)
    # psycopg understands postgres:// and postgresql:// alike; pgsql:// is django-environ's.
    return url.replace("pgsql://", "postgresql://", 1)


def database_exists(name: str) -> bool:
    import psycopg

    maintenance = urlsplit(server_url()).path.lstrip("/") or "postgres"
    with psycopg.connect(psycopg_conninfo(maintenance), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def recreate_database(name: str) -> None:
    """Drop and create one of the bench's own databases (refuses any other name)."""
    import psycopg
    from psycopg import sql

    if not name.startswith(BENCH_DB_PREFIX):
        raise ValueError(f"the bench only manages its own databases, not {name!r}")
    maintenance = urlsplit(server_url()).path.lstrip("/") or "postgres"
    if maintenance == name:
        raise ValueError("DATABASE_URL must name another database than the bench's")
    with psycopg.connect(psycopg_conninfo(maintenance), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate(name: str) -> None:
    run_child(["manage.py", "migrate", "--noinput", "-v", "0"], db=name, settings="backoffice.settings")


# --- Child processes -----------------------------------------------------------------

BENCH_TRUSTED_SECRET = "bench-trusted-backend-" + "y" * 40


def signed_ip(address: str, email: str, secret: str = BENCH_TRUSTED_SECRET) -> dict[str, str]:
    """ClientMetadata as an app's backend sends it (docs/security.md, "Trust model")."""
    import hashlib
    import hmac

    stamp = str(int(time.time()))
    message = "\n".join(["gatehouse-ip-v1", address, email.strip().lower(), stamp]).encode()
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"ipAddress": address, "ipTimestamp": stamp, "ipSignature": signature}


def child_env(*, db: str, settings: str, production: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a bench child: a scratch database, AWS pointed at nothing, no inline sends."""
    env = dict(os.environ)
    env.update(
        ENV_FILE="",
        GATEHOUSE_ENV="production" if production else "test",
        DEBUG="false",
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        # Production settings refuse to start without one (a fixed key: bench data is scratch).
        OUTBOX_ENCRYPTION_KEYS="YmVuY2gtb3V0Ym94LWtleS0wMDAwMDAwMDAwMDAwMDA=",
        # The bench's pre sign-ups carry a signed address, as an app's backend sends it.
        TRUSTED_BACKEND_SECRET=BENCH_TRUSTED_SECRET,
        DATABASE_URL=db_url(db),
        DJANGO_SETTINGS_MODULE=settings,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=NOWHERE,
        COGNITO_USER_POOL_ID="us-east-1_bench",
        CRM_WEBHOOK_URL="",
        # Side effects are stored (same transaction) and left to the queue: measure our code, not SES.
        SIDE_EFFECT_INLINE_BUDGET_SECONDS="0",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def run_child(
    args: list[str],
    *,
    db: str,
    settings: str,
    production: bool = False,
    timeout: float = 3600,
    env_extra: dict[str, str] | None = None,
) -> str:
    """Run `python ARGS` in the project root; return stdout. Stderr is kept and shown on failure."""
    env = child_env(db=db, settings=settings, production=production, **(env_extra or {}))
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.run(
            [PYTHON, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-4000:]
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def run_section(
    module: str, *, db: str, settings: str, args: list[str], production: bool = False
) -> list[Row]:
    """Run `python -m bench.MODULE ARGS` and collect the rows it printed."""
    try:
        out = run_child(["-m", f"bench.{module}", *args], db=db, settings=settings, production=production)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        # One broken section must not lose the others' rows: report it as a row and go on.
        print(str(exc)[-3000:], file=sys.stderr)
        return [
            Row(
                section=module,
                name=f"{module} {' '.join(args[:2])}",
                ok=False,
                note="section crashed; see stderr",
            )
        ]
    rows = []
    for line in out.splitlines():
        if line.startswith(ROW_PREFIX):
            rows.append(Row.from_json(line[len(ROW_PREFIX) :]))
        elif line.strip():
            print(f"  [{module}] {line}", file=sys.stderr)
    return rows


def django_setup() -> None:
    """Set Django up in a bench child (settings come from the environment run_child made)."""
    import django

    django.setup()


# --- Timing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    n: int
    median_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Stats:
        ordered = sorted(samples_ms)
        # Nearest rank: the value 99% of runs stayed at or under.
        rank = max(0, min(len(ordered) - 1, int(0.99 * len(ordered) + 0.999999) - 1))
        return cls(
            n=len(ordered),
            median_ms=statistics.median(ordered),
            p99_ms=ordered[rank],
            mean_ms=statistics.fmean(ordered),
        )


def interleaved(
    contenders: dict[str, Callable[[int], Any]], *, runs: int, warmup: int = 0
) -> dict[str, list[float]]:
    """Time each contender once per round, in a shuffled order, so drift hits all alike.

    Each callable gets the round number (warm-up rounds are negative), so it can use a
    fresh row per run where the work writes. Returns milliseconds per contender.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    rng = random.Random(8)
    for i in range(-warmup, runs):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            fn = contenders[name]
            started = time.perf_counter_ns()
            fn(i)
            elapsed = (time.perf_counter_ns() - started) / 1e6
            if i >= 0:
                samples[name].append(elapsed)
    return samples


# --- Rows ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    section: str
    name: str
    gatehouse: Stats | None = None
    baseline: Stats | None = None
    baseline_name: str = ""
    queries: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.gatehouse is None or self.baseline is None or not self.baseline.median_ms:
            return None
        return self.gatehouse.median_ms / self.baseline.median_ms

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Row:
        data = json.loads(text)
        for key in ("gatehouse", "baseline"):
            if data.get(key) is not None:
                data[key] = Stats(**data[key])
        return cls(**data)


def emit(row: Row) -> None:
    print(ROW_PREFIX + row.to_json(), flush=True)


def not_built(section: str, name: str, target: str, why: str = "not built yet") -> Row:
    return Row(section=section, name=name, target=target, ok=None, note=why)


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def verdict(ok: bool | None) -> str:
    return {True: "ok", False: "MISSED", None: "—"}[ok]


TABLE_HEADER = (
    "| row | Gatehouse median ms | p99 ms | baseline | baseline median ms | p99 ms | ratio "
    "| queries | target | verdict | note |"
)


def table_lines(rows: Iterable[Row]) -> list[str]:
    lines = [TABLE_HEADER, "|" + "---|" * 11]
    for row in rows:
        gh, base = row.gatehouse, row.baseline
        ratio = row.ratio
        lines.append(
            "| "
            + " | ".join(
                [
                    row.name,
                    _ms(gh.median_ms) if gh else "",
                    _ms(gh.p99_ms) if gh else "",
                    row.baseline_name,
                    _ms(base.median_ms) if base else "",
                    _ms(base.p99_ms) if base else "",
                    f"{ratio:.2f}x" if ratio is not None else "",
                    row.queries,
                    row.target,
                    verdict(row.ok),
                    row.note,
                ]
            )
            + " |"
        )
    return lines


def machine_description() -> dict[str, str]:
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    postgres = "unknown"
    try:
        import psycopg

        maintenance = urlsplit(server_url()).path.lstrip("/") or "postgres"
        with psycopg.connect(psycopg_conninfo(maintenance)) as conn:
            postgres = str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:
        postgres = f"unknown ({type(exc).__name__})"
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "commit": commit_description(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "postgres": postgres,
        "platform": platform.platform(),
        "load average (1/5/15 min) at start": load,
    }


def commit_description() -> str:
    """The commit the bench runs on, and whether the work tree had changes beyond it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    head = git("rev-parse", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def rss_kib() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in KiB, from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values
