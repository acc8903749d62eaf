"""Retention at size: the drain's prune of old activity events, timed batch by batch.

    python -m bench.retention [--rows N]   # run by bench/run.py (section "retention")

Loads N activity events older than ACTIVITY_RETENTION_DAYS and N/10 recent ones, then runs
tenants.retention.activity_events_prune (the drain's id-range batches) and times every
DELETE it sends: the longest is the longest any prune statement holds its row locks. It
checks that exactly the old rows went.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench.common import Row, Stats, django_setup, emit

# The longest one prune statement may take: its locks are row locks on old rows only, but a
# long statement is a long transaction (vacuum and replicas wait on it).
LONGEST_BATCH_MS = 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    django_setup()
    from django.conf import settings
    from django.db import connection

    from tenants.models import ActivityEvent
    from tenants.retention import activity_events_prune

    old_days = settings.ACTIVITY_RETENTION_DAYS + 10
    recent = max(args.rows // 10, 1)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tenants_activityevent")
        cursor.execute(
            "INSERT INTO tenants_activityevent (kind, data, created_at) "
            "SELECT 'sign_in', '{}', now() - make_interval(days => %s) + g * interval '1 millisecond' "
            "FROM generate_series(1, %s) g",
            [old_days, args.rows],
        )
        cursor.execute(
            "INSERT INTO tenants_activityevent (kind, data, created_at) "
            "SELECT 'sign_in', '{}', now() - g * interval '1 millisecond' FROM generate_series(1, %s) g",
            [recent],
        )
        cursor.execute("ANALYZE tenants_activityevent")

    durations: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.startswith("DELETE"):
                durations.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        deleted = activity_events_prune()
    seconds = time.perf_counter() - started
    left = ActivityEvent.objects.count()
    exact = deleted == args.rows and left == recent
    longest = max(durations, default=0.0)
    emit(
        Row(
            section="retention",
            name=f"prune {args.rows:,} old activity events (of {args.rows + recent:,})",
            gatehouse=Stats.of(durations) if durations else None,
            queries=f"{len(durations)} DELETEs of ≤ {settings.RETENTION_BATCH_SIZE:,} ids",
            target=f"longest DELETE < {LONGEST_BATCH_MS:g} ms, only old rows",
            ok=exact and longest < LONGEST_BATCH_MS,
            note=f"{deleted:,} deleted in {seconds:.1f} s ({deleted / max(seconds, 1e-9):,.0f} rows/s), "
            f"longest DELETE {longest:.0f} ms; {left:,} recent rows kept"
            + ("" if exact else f" (expected {args.rows:,} deleted and {recent:,} kept)"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
