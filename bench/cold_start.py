"""Cold start of the trigger function against a raw-psycopg handler answering the same event.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.cold_start [--runs N]

Each run is a new process, timed from spawn to its answer on stdout: interpreter start,
imports, django.setup() with backoffice.settings_triggers (production), the database
connection, and one TokenGeneration_Authentication event for a user with a company, role,
permissions and feature flags. The baseline (bench.baseline) imports psycopg only and runs
the same SQL as tenants.selectors.token_claims_for. Both answers must be identical. Runs
interleave, so machine load hits both alike. Uses its own scratch database
(bench_gatehouse_cold) on the DATABASE_URL server and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PYTHON,
    Stats,
    child_env,
    interleaved,
    migrate,
    psycopg_conninfo,
    recreate_database,
    run_child,
)

DB = "bench_gatehouse_cold"
SUB = "00000000-0000-4000-8000-00000000c01d"

SEED = f"""
import django
django.setup()
from tenants.models import Company, FeatureFlag, Role, UserProfile
company = Company.objects.create(name="Cold Co", slug="cold-co", subscription_tier="pro")
role = Role.objects.create(key="ADMIN", name="Admin", permissions=["profile:read", "users:invite"])
FeatureFlag.objects.create(key="reports", default_enabled=True)
UserProfile.objects.create(
    cognito_sub="{SUB}", username="cold-user", email="cold@example.com", company=company, role=role
)
"""

GATEHOUSE = (
    "import json, sys\n"
    "from triggers.lambda_handler import handler\n"
    "sys.stdout.write(json.dumps(handler(json.loads(sys.argv[1]), None)['response'], sort_keys=True))\n"
)


def token_event() -> dict:
    """A V1 TokenGeneration_Authentication event as Cognito sends it (cognito-local sends the same shape)."""
    return {
        "version": "1",
        "triggerSource": "TokenGeneration_Authentication",
        "region": "us-east-1",
        "userPoolId": "us-east-1_bench",
        "userName": "cold-user",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "bench-client"},
        "request": {
            "userAttributes": {"sub": SUB, "email": "cold@example.com", "email_verified": "true"},
            "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": []},
        },
        "response": {"claimsOverrideDetails": None},
    }


def measure(runs: int) -> dict[str, Stats]:
    env = child_env(db=DB, settings="backoffice.settings_triggers", production=True, LOG_LEVEL="WARNING")
    # A deployment package ships compiled bytecode (build_lambda): let both sides use it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    payload = json.dumps(token_event())
    commands = {
        "gatehouse": [PYTHON, "-c", GATEHOUSE, payload],
        "raw": [PYTHON, "-m", "bench.baseline", "cold", payload],
        "bare python": [PYTHON, "-c", "pass"],
    }
    answers: dict[str, str] = {}

    def spawn(name: str):  # type: ignore[no-untyped-def]
        def run(i: int) -> None:
            done = subprocess.run(
                commands[name], cwd=ROOT, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
            answers[name] = done.stdout

        return run

    samples = interleaved({name: spawn(name) for name in commands}, runs=runs, warmup=2)
    if json.loads(answers["gatehouse"]) != json.loads(answers["raw"]):
        raise RuntimeError(f"the answers differ:\n{answers['gatehouse']}\n{answers['raw']}")
    return {name: Stats.of(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)

    recreate_database(DB)
    try:
        migrate(DB)
        run_child(["-c", SEED], db=DB, settings="backoffice.settings")
        stats = measure(args.runs)
    finally:
        import psycopg
        from psycopg import sql

        with psycopg.connect(psycopg_conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))

    print(f"cold start, one pre token generation event, {args.runs} fresh processes each (interleaved):")
    for name, s in stats.items():
        print(f"  {name:12} median {s.median_ms:7.1f} ms   p99 {s.p99_ms:7.1f} ms")
    ratio = stats["gatehouse"].median_ms / stats["raw"].median_ms
    above_bare = (stats["gatehouse"].median_ms - stats["bare python"].median_ms) / max(
        stats["raw"].median_ms - stats["bare python"].median_ms, 1e-9
    )
    print(f"ratio gatehouse / raw psycopg (median): {ratio:.2f}x")
    print(f"ratio above the bare interpreter's start: {above_bare:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
