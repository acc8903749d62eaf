"""Memory of the trigger process: RSS after 1,000 and 10,000 warm invocations, and the peak.

    python -m bench.memory [--invocations N]         # Gatehouse (run by bench/run.py)
    python -m bench.memory --raw [--invocations N]   # the raw-psycopg handler, for comparison

Pre token generation (the trigger that runs on every sign-in and refresh) over a rotating
set of real users, so the claims cache fills as it would in a busy container. RSS is read
from /proc/self/status (VmRSS, and VmHWM for the peak).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from bench.common import PYTHON, ROOT, Row, emit, rss_kib

SUBS_SQL = (
    "SELECT p.cognito_sub FROM tenants_userprofile p JOIN tenants_company c ON c.id = p.company_id "
    "WHERE p.status = 'active' AND c.status = 'active' ORDER BY p.id LIMIT 2000"
)


def run(invocations: int, *, raw: bool) -> dict[str, Any]:
    from bench.baseline import connect
    from bench.triggers_warm import token_event

    conn = connect()
    subs = [row[0] for row in conn.execute(SUBS_SQL).fetchall()]
    events = [token_event(sub) for sub in subs]
    if raw:
        from bench.baseline import pre_token_generation

        def call(event: dict) -> Any:
            return pre_token_generation(conn, event)
    else:
        conn.close()
        from triggers.lambda_handler import handler

        def call(event: dict) -> Any:
            return handler(event, None)

    start = rss_kib()
    marks: dict[str, Any] = {"start": start}
    for i in range(1, invocations + 1):
        call(events[i % len(events)])
        if i in (1_000, invocations):
            marks[str(i)] = rss_kib()
    marks["distinct_users"] = len(events)
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw marks as JSON")
    args = parser.parse_args(argv)
    if args.raw or args.json:
        if not args.raw:
            import django

            django.setup()
        print(json.dumps(run(args.invocations, raw=args.raw)))
        return 0
    import importlib.util

    if importlib.util.find_spec("triggers.pre_token_generation") is None:
        emit(Row(section="memory", name="memory", note="not built yet (triggers.pre_token_generation)"))
        return 0
    gh = run(args.invocations, raw=False)
    out = subprocess.run(
        [PYTHON, "-m", "bench.memory", "--raw", "--invocations", str(args.invocations)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rw = json.loads(out.stdout.strip().splitlines()[-1])
    n = str(args.invocations)

    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f} MiB"

    growth = gh[n]["VmRSS"] - gh["1000"]["VmRSS"]
    emit(
        Row(
            section="memory",
            name=f"trigger process RSS after 1,000 → {args.invocations:,} warm pre token invocations",
            target="flat after warm-up",
            ok=growth < 2048,  # under 2 MiB over 9,000 invocations (the claims cache is bounded)
            note=(
                f"Gatehouse {mib(gh['1000']['VmRSS'])} → {mib(gh[n]['VmRSS'])} "
                f"(peak VmHWM {mib(gh[n]['VmHWM'])}); "
                f"raw psycopg {mib(rw['1000']['VmRSS'])} → {mib(rw[n]['VmRSS'])} "
                f"(peak {mib(rw[n]['VmHWM'])}); {gh['distinct_users']:,} distinct users in rotation"
            ),
            extra={"gatehouse": gh, "raw": rw},
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
