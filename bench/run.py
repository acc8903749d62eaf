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
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common, loader  # noqa: E402

SECTIONS = ("admin", "triggers", "cold", "memory")

# Why rows miss their targets, from profiling (cProfile of each scenario, -X importtime, the
# query log). Kept here so every RESULTS.md carries it; update it when the causes change.
ANALYSIS = """\
- Cold start (Django import + setup dominates). `python -X importtime -c "from triggers.lambda_handler
  import handler"`: django.db.models, django.http/urls (pulled in by django.setup() and the auth app),
  django.db.backends.base.operations and psycopg are the big items; psycopg is paid by the raw
  handler too. What is ours to cut: settings_triggers already drops admin, sessions, messages and
  staticfiles; `django.contrib.postgres` (forms, psycopg_any ranges) and the auth app are still
  loaded because models reference them (ArrayField, created_by/updated_by FKs). The practical fix
  is at deploy level (issue 6): Lambda SnapStart for Python restores an initialised process, which
  removes import and setup from the cold path (Django connects lazily, so no connection is
  frozen into the snapshot); without it, provisioned concurrency for the token function. Trimming
  imports alone is unlikely to reach 1.5x a handler that imports only psycopg.
- Every trigger pays one hidden round trip: triggers/lambda_handler.invoke() calls
  close_old_connections(), and with CONN_HEALTH_CHECKS=True Django sends `SELECT 1` before the
  first query of each invocation. For one-query triggers (define auth challenge, pre token with a
  cold cache, custom message) that doubles the round trips. Suggested change in
  triggers/lambda_handler.py: check health only after an idle gap (time since the last invocation
  above a few seconds, i.e. after a freeze), or drop CONN_HEALTH_CHECKS for triggers and retry
  once on OperationalError/InterfaceError from the first query.
- ORM query construction per call: tenants.selectors.token_claims_for rebuilds a queryset with two
  ArraySubquery/JSONObject annotations on every cache miss; compiling it costs more CPU than the
  query takes in Postgres. Suggested change in tenants/selectors.py: compile once per process
  (`sql, params = qs.query.sql_with_params()` with the sub as the only parameter) and run it with
  connection.cursor(); same for the other hot selectors (sign_in_subject, _profile_for).
- Template compilation per render: tenants/emails.py `_compile()` calls
  `_engine().from_string(source)` (and `_check_tokens`) on every render, 3 templates per message
  (post confirmation's welcome email, create auth challenge's login code, custom message).
  Suggested change: cache compiled templates by source text (functools.lru_cache(maxsize=256) on a
  helper taking (source, field)); staff edits change the source, so the cache never serves stale
  text.
- Round trips on write paths: post confirmation sends about twice the raw handler's statements:
  get_or_create is SELECT + SAVEPOINT + INSERT + RELEASE for the profile and for each outbox row
  (outbox.services.side_effect_enqueue) where `INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id`
  is one statement; invitation_accept selects the invitation again FOR UPDATE after
  invitation_reserved_for selected it. Suggested changes: an ON CONFLICT insert in
  side_effect_enqueue (outbox/services.py) and in profile_onboard (tenants/services.py), and
  `select_for_update(of=("self",))` in invitation_reserved_for when called from onboarding.
- create auth challenge opens no inline budget (triggers/auth_challenge.py handle_create): the
  login-code email is tried inline after commit with no deadline, so a slow SES can hold the
  invocation for SIDE_EFFECT_TIMEOUT_SECONDS x 2 (connect + read). The bench wraps every call in
  inline_budget(0); the handler should wrap login_code_issue in `with inline_budget():` as
  post_confirmation does.
- Bulk CSV import: invites.services.invitation_bulk_create calls invitation_create per row
  (validate: 2 EXISTS queries, an UPDATE of expired rows, SAVEPOINT, INSERT, RELEASE: ~8
  statements a row) although invitation_rows_parse has already checked pending invitations and
  members for the whole file in two queries. Suggested change: one UPDATE voiding expired open
  invitations for the file's emails, then Invitation.objects.bulk_create() of all rows (codes
  generated in Python), and raise BULK_INVITATION_MAX_ROWS (10,000 rows then fit one request).
- Admin, N+1 on roles: Role.__str__ prints its company, so every row whose role is a company role
  fetches that company (UserProfile search: 14 extra `SELECT tenants_company ... WHERE id = N` on
  one page; the count depends on the rows shown, hence "query count grows"). Fix in tenants/admin.py
  and invites/admin.py: add "role__company" to list_select_related of UserProfileAdmin,
  InvitationAdmin and LegacyUserAdmin.
- Admin, sorting 200,000 rows per page: UserProfile, Invitation and SideEffect are ordered by
  -created_at (Meta.ordering) with no index on created_at, so each changelist sorts the whole table
  to show 100 rows (about 250-300 ms of the invitation and profile changelists). Fix: an index on
  created_at for tenants.UserProfile, invites.Invitation and outbox.SideEffect (ActivityEvent and
  SignupRefusal have one and are fast).
- Admin, search: `?q=` is ILIKE '%q%' over every search field (six on UserProfile, through a join
  to the company), a sequential scan of 200,000 rows, run twice (the filtered count and the page),
  plus an unfiltered COUNT(*). Fix: `show_full_result_count = False` on the big models, and either
  pg_trgm GIN indexes (django.contrib.postgres GinIndex with opclasses=["gin_trgm_ops"], after a
  TrigramExtension migration) on email/name columns, or narrower lookups ("^email",
  "=cognito_sub", "=username") where staff search by exact identifiers.
- p99 under 10 ms is missed on a shared 2-core machine by every write path, the raw handlers
  included; compare the ratios, and rerun on a quiet machine for absolute p99s.
"""
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
    parser.add_argument(
        "--with-helper-benches",
        action="store_true",
        help="also run bench/pre_token_generation.py and bench/cold_start.py and append their reports",
    )
    return parser.parse_args(argv)


def helper_benches() -> list[tuple[str, str]]:
    """The stand-alone benches other issues added, run as they are and reported verbatim.

    Their interfaces print their own reports (and bench/pre_token_generation.py manages
    its own database), so the table's rows are measured by bench/triggers_warm.py instead.
    """
    reports = []
    for name in ("pre_token_generation", "cold_start"):
        if importlib.util.find_spec(f"bench.{name}") is None:
            continue
        started = time.perf_counter()
        proc = subprocess.run(
            [common.PYTHON, f"bench/{name}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=common.child_env(db=common.BENCH_DB, settings="backoffice.settings_triggers", production=True)
            | {"DATABASE_URL": common.server_url(), "LOG_LEVEL": "WARNING"},
            timeout=1800,
        )
        text = proc.stdout.strip() or proc.stderr.strip()[-3000:]
        reports.append(
            (f"bench/{name}.py ({time.perf_counter() - started:.0f} s, exit {proc.returncode})", text)
        )
    return reports


def write_results(path: Path, rows: list[common.Row], machine: dict[str, str], args: argparse.Namespace,
                  seconds: float, appendix: list[tuple[str, str]]) -> None:  # fmt: skip
    missed = [row for row in rows if row.ok is False]
    lines = [
        "# Gatehouse benchmark results",
        "",
        "Written by `bench/run.py` (`make bench`); do not edit by hand, run it again.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in machine.items()],
        f"- scale: {args.scale:g} (1 = 10,000 companies, 200,000 profiles, 200,000 invitations)",
        f"- runs: {args.runs} per trigger and contender (interleaved, shuffled order), "
        f"{args.admin_runs} per admin page, {args.cold_runs} fresh processes per cold-start contender",
        f"- wall time of the whole bench: {seconds / 60:.1f} min",
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
        "Why each was missed, and what should change, is under 'Analysis' below.",
        "",
        "## Analysis",
        "",
        ANALYSIS,
    ]
    for title, text in appendix:
        lines += ["", f"## {title}", "", "```", text, "```"]
    path.write_text("\n".join(lines) + "\n")


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
        rows += common.run_section(
            "triggers_warm",
            args=["--runs", str(args.runs), "--warmup", str(max(10, args.runs // 20))],
            **trigger_env,
        )
    if "cold" in only:
        print("cold start ...", file=sys.stderr)
        rows += common.run_section(
            "triggers_warm", args=["--cold", "--cold-runs", str(args.cold_runs)], **trigger_env
        )
    if "memory" in only:
        print("memory ...", file=sys.stderr)
        rows += common.run_section("memory", args=["--invocations", str(args.invocations)], **trigger_env)

    order = {"cold start": 0, "triggers": 1, "memory": 2, "admin": 3}
    rows.sort(key=lambda row: order.get(row.section, 9))
    print("\n".join(common.table_lines(rows)))
    appendix = helper_benches() if args.with_helper_benches else []
    seconds = time.perf_counter() - started
    if not args.no_write and set(only) == set(SECTIONS):
        path = ROOT / "bench" / "RESULTS.md"
        write_results(path, rows, machine, args, seconds, appendix)
        print(f"Wrote {path.relative_to(ROOT)}", file=sys.stderr)
    missed = [row.name for row in rows if row.ok is False]
    print(f"{len(missed)} target(s) missed: {', '.join(missed) or 'none'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
