"""Gatehouse's benchmarks: one table, every row measured beside its baseline in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/run.py \\
        [--scale S] [--only admin,triggers,cold,memory] [--runs N]

DATABASE_URL names a Postgres server; the bench creates, migrates and loads its own
database (bench_gatehouse) there and touches no other. --scale 1 is the full size the
issue asks for (10,000 companies, 200,000 profiles, 200,000 invitations); use
--scale 0.05 while developing. A run of every section writes bench/RESULTS.md.

Sections, each in its own process:
- admin: changelist, search and change page of every admin model of ours, on a small
  dataset and then on the full one (bench/admin_scale.py); bulk CSV import of invitations.
- triggers: warm latency and query count of each trigger against a raw-psycopg handler
  doing the same work, interleaved; pre token generation throughput (bench/triggers_warm.py).
- cold: fresh processes answering one pre token generation event (bench/triggers_warm.py --cold).
- memory: RSS of the trigger process after 1,000 and 10,000 invocations (bench/memory.py).
- retention: the drain's prune of 1,000,000 x scale old activity events, every DELETE timed
  (bench/retention.py).
- growth (with admin and triggers): each trigger's median on the full dataset over its median
  on the small one, measured before the admin section loads the rest (target <= 1.15x).

It prints only what it measured, names the commit it ran on, and exits 1 when a target is
missed (so `make bench` fails like `make test`). BENCH_DB_SUFFIX=name uses a database of its
own (bench_gatehouse_name) on a server others bench on too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common, loader  # noqa: E402

SECTIONS = ("admin", "triggers", "cold", "memory", "retention")

SMALL_SCALE = 0.01  # the small dataset: 100 companies, 2,000 profiles


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="dataset size; 1 = the issue's full size")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, default=500, help="timed runs per trigger and contender")
    parser.add_argument("--admin-runs", type=int, default=15, help="timed requests per admin page")
    parser.add_argument("--cold-runs", type=int, default=20, help="fresh processes per contender")
    parser.add_argument("--invocations", type=int, default=10_000, help="for the memory line")
    parser.add_argument("--bulk-rows", type=int, default=10_000, help="invitations in the CSV import")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    return parser.parse_args(argv)


def write_results(path: Path, rows: list[common.Row], machine: dict[str, str], args: argparse.Namespace,
                  seconds: float) -> None:  # fmt: skip
    missed = [row for row in rows if row.ok is False]
    lines = [
        "# Gatehouse benchmark results",
        "",
        "Written by `bench/run.py` (`make bench`); do not edit by hand, run it again. Every figure",
        "below was measured by the run described here; nothing is carried over from another run.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in machine.items()],
        f"- scale: {args.scale:g} (1 = 10,000 companies, 200,000 profiles, 200,000 invitations)",
        f"- runs: {args.runs} per trigger and contender (interleaved, shuffled order), "
        f"{args.admin_runs} per admin page, {args.cold_runs} fresh processes per cold-start contender",
        f"- wall time of the whole bench: {seconds / 60:.1f} min",
        f"- load average (1/5/15 min) at the end: {common.load_average()}",
        "",
        "The machine is shared (2 cores, other work running): absolute numbers are noisy; the ratios",
        "come from runs interleaved in the same process and are what to compare.",
        "",
        "## Results",
        "",
        *common.table_lines(rows),
        "",
        f"## Targets missed: {len(missed)}",
        "",
        *[f"- {row.name}: {row.note or 'see the table'}" for row in missed],
        "",
    ]
    path.write_text("\n".join(lines) + "\n")


GROWTH_TARGET = 1.15


def growth_rows(small: list[common.Row], large: list[common.Row]) -> list[common.Row]:
    """Each trigger's median on the full dataset against its own median on the small one.

    The two runs are minutes apart on a shared machine, so the verdict divides Gatehouse's
    growth by the raw baseline's (same queries, same indexes, measured interleaved with it):
    what is left is growth of Gatehouse's own, not the machine's load changing in between.
    """
    before = {row.name: row for row in small if row.gatehouse is not None}
    grown = []
    for row in large:
        first = before.get(row.name)
        # Rows without a target (a cache hit runs no query: no table can slow it) are skipped.
        if row.ok is None or row.gatehouse is None or first is None or first.gatehouse is None:
            continue
        ratio = row.gatehouse.median_ms / first.gatehouse.median_ms
        raw_ratio = None
        if row.baseline is not None and first.baseline is not None and first.baseline.median_ms:
            raw_ratio = row.baseline.median_ms / first.baseline.median_ms
        corrected = ratio / raw_ratio if raw_ratio else ratio
        grown.append(
            common.Row(
                section="growth",
                name=f"{row.name}: full / small dataset",
                gatehouse=row.gatehouse,
                baseline=first.gatehouse,
                baseline_name="itself, small dataset",
                queries=row.queries,
                target=f"≤ {GROWTH_TARGET:g}x, over the raw baseline's own growth",
                ok=corrected <= GROWTH_TARGET,
                note=f"raw baseline full / small {raw_ratio:.2f}x; Gatehouse over raw {corrected:.2f}x"
                if raw_ratio
                else "no raw baseline to correct by",
            )
        )
    return grown


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    started = time.perf_counter()
    machine = common.machine_description()
    print("Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()), file=sys.stderr)
    db = common.BENCH_DB
    print(f"Creating and migrating {db} ...", file=sys.stderr)
    common.recreate_database(db)
    common.migrate(db)
    small = loader.load(common.psycopg_conninfo(db), scale=SMALL_SCALE, prefix="a")
    print(
        f"Loaded the small batch: {sum(small.counts.values()):,} rows in {small.seconds:.1f} s",
        file=sys.stderr,
    )

    rows: list[common.Row] = []
    trigger_env = {"db": db, "settings": "backoffice.settings_triggers", "production": True}
    trigger_args = ["--runs", str(args.runs), "--warmup", str(max(10, args.runs // 20))]
    small_triggers: list[common.Row] = []
    if "triggers" in only and "admin" in only and args.scale > SMALL_SCALE:
        # The same triggers on the small dataset first, for the growth rows (full / small).
        print("triggers on the small dataset (for growth) ...", file=sys.stderr)
        small_triggers = common.run_section("triggers_warm", args=trigger_args, **trigger_env)
    if "admin" in only:
        print("admin pages: small dataset, bulk load, full dataset ...", file=sys.stderr)
        large_scale = max(args.scale - SMALL_SCALE, 0)
        admin_args = [
            "--scale",
            str(large_scale),
            "--runs",
            str(args.admin_runs),
            "--bulk-rows",
            str(args.bulk_rows),
        ]
        if large_scale == 0:
            admin_args.append("--no-large")
        rows += common.run_section("admin_scale", db=db, settings="backoffice.settings", args=admin_args)
    if "triggers" in only:
        print("triggers: warm latency, queries, throughput ...", file=sys.stderr)
        large_triggers = common.run_section("triggers_warm", args=trigger_args, **trigger_env)
        rows += large_triggers
        rows += growth_rows(small_triggers, large_triggers)
    if "cold" in only:
        print("cold start ...", file=sys.stderr)
        rows += common.run_section(
            "triggers_warm", args=["--cold", "--cold-runs", str(args.cold_runs)], **trigger_env
        )
    if "memory" in only:
        print("memory ...", file=sys.stderr)
        rows += common.run_section("memory", args=["--invocations", str(args.invocations)], **trigger_env)
    if "retention" in only:
        # Last: it replaces the activity events with its own (old and recent) rows.
        print("retention ...", file=sys.stderr)
        rows += common.run_section(
            "retention", args=["--rows", str(max(int(1_000_000 * args.scale), 1000))], **trigger_env
        )

    order = {"cold start": 0, "triggers": 1, "growth": 2, "memory": 3, "retention": 4, "admin": 5}
    rows.sort(key=lambda row: order.get(row.section, 9))
    print("\n".join(common.table_lines(rows)))
    seconds = time.perf_counter() - started
    if not args.no_write and set(only) == set(SECTIONS):
        path = ROOT / "bench" / "RESULTS.md"
        write_results(path, rows, machine, args, seconds)
        print(f"Wrote {path.relative_to(ROOT)}", file=sys.stderr)
    missed = [row.name for row in rows if row.ok is False]
    print(f"{len(missed)} target(s) missed: {', '.join(missed) or 'none'}", file=sys.stderr)
    # A missed target fails `make bench`, as a failing test fails `make test`.
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
