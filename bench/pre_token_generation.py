"""Warm pre token generation through the real Lambda handler, against a raw-psycopg baseline.

Run by hand (not in CI, not a test):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/pre_token_generation.py

DATABASE_URL names a server (its database is used only to create and drop the scratch one).
The bench creates the database bench_gatehouse_tokens, migrates it, loads companies, roles,
flags and users, and drops it at the end (--keep leaves it). It touches no other database.

Three timings, each over the same random mix of users:
- baseline: the same lookups (profile, company, role, flags, overrides) as one SQL statement
  over a plain psycopg connection (prepare_threshold=None, as Gatehouse configures it), the
  claims built by hand, no framework, no cache;
- gatehouse warm: triggers.lambda_handler.handler with the per-container claims cache holding
  (the common case: a token refresh or a second sign-in within CLAIMS_CACHE_SECONDS);
- gatehouse cache-cold: the same handler with the cache emptied before every call (one query,
  plus the connection health check Django runs after close_old_connections()).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "bench_gatehouse_tokens"

BASELINE_SQL = """
SELECT p.status, p.preferences, p.company_id, c.name, c.status, c.subscription_tier,
       r.key, r.cognito_group, r.permissions,
       ARRAY(SELECT jsonb_build_object('k', f.key, 'd', f.default_enabled, 't', f.enabled_tiers)
             FROM tenants_featureflag f),
       ARRAY(SELECT jsonb_build_object('k', f.key, 'e', o.enabled)
             FROM tenants_featureflagoverride o JOIN tenants_featureflag f ON f.id = o.flag_id
             WHERE o.company_id = p.company_id)
FROM tenants_userprofile p
LEFT JOIN tenants_company c ON c.id = p.company_id
LEFT JOIN tenants_role r ON r.id = p.role_id
WHERE p.cognito_sub = %s
LIMIT 1
"""


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL to a Postgres server, e.g. postgres://postgres@127.0.0.1:5432/postgres")
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def conninfo(url: str) -> str:
    return url.replace("pgsql://", "postgresql://", 1)


def recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    maintenance = urlsplit(url).path.lstrip("/") or "postgres"
    if maintenance == BENCH_DB:
        sys.exit("DATABASE_URL must name another database than the bench's own")
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))


def seed(*, users: int, companies: int, flags: int, seed_value: int) -> list[str]:
    from tenants.models import Company, FeatureFlag, FeatureFlagOverride, Role, UserProfile

    rng = random.Random(seed_value)
    tiers = ["free", "pro", "enterprise"]
    global_roles = [
        Role.objects.create(key="USER", name="User", permissions=["profile:read"], cognito_group="USER"),
        Role.objects.create(
            key="ADMIN",
            name="Admin",
            permissions=["profile:read", "users:invite", "billing:read", "reports:read"],
            cognito_group="ADMIN",
        ),
        Role.objects.create(key="SUPER_ADMIN", name="Super admin", permissions=["*"]),
    ]
    company_rows = Company.objects.bulk_create(
        Company(name=f"Company {i}", slug=f"company-{i}", subscription_tier=tiers[i % 3])
        for i in range(companies)
    )
    flag_rows = FeatureFlag.objects.bulk_create(
        FeatureFlag(
            key=f"feature-{i:02d}",
            default_enabled=i % 4 == 0,
            enabled_tiers=[t for t in tiers[1:] if (i + len(t)) % 3 == 0],
        )
        for i in range(flags)
    )
    FeatureFlagOverride.objects.bulk_create(
        FeatureFlagOverride(flag=flag, company=company, enabled=rng.random() < 0.5)
        for company in company_rows
        for flag in rng.sample(flag_rows, k=min(3, len(flag_rows)))
    )
    subs = [f"bench-sub-{i:06d}" for i in range(users)]
    UserProfile.objects.bulk_create(
        UserProfile(
            cognito_sub=sub,
            username=sub,
            email=f"user{i}@bench.example",
            company=company_rows[i % companies],
            role=global_roles[i % len(global_roles)],
            preferences={"theme": "dark" if i % 2 else "light", "language": "en"},
        )
        for i, sub in enumerate(subs)
    )
    return subs


def event_for(sub: str) -> dict[str, Any]:
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_RefreshTokens",
        "region": "us-east-1",
        "userPoolId": "us-east-1_bench",
        "userName": sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "bench-client"},
        "request": {
            "userAttributes": {"sub": sub, "email_verified": "true", "email": "someone@bench.example"},
            "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None},
            "scopes": ["aws.cognito.signin.user.admin"],
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def baseline_invoke(conn: Any, event: dict[str, Any]) -> dict[str, Any]:
    """What a hand-written function would do: one query, claims by hand, the event back."""
    sub = event["request"]["userAttributes"]["sub"]
    row = conn.execute(BASELINE_SQL, [sub]).fetchone()
    claims: dict[str, str] = {"custom:theme": "light", "custom:language": "en"}
    groups: list[str] = []
    scopes: list[str] = []
    if row is not None:
        status, prefs, company_id, name, company_status, tier, role, group, perms, flags, overrides = row
        prefs = prefs or {}
        claims["custom:theme"] = prefs.get("theme") or "light"
        claims["custom:language"] = prefs.get("language") or "en"
        if company_id is not None:
            claims["custom:companyId"] = str(company_id)
            claims["custom:companyName"] = name
        claims["custom:subscriptionTier"] = tier or "free"
        if status == "active" and (company_id is None or company_status == "active"):
            over = {o["k"]: o["e"] for o in overrides}
            on = sorted(f["k"] for f in flags if over.get(f["k"], (tier in (f["t"] or [])) or f["d"]))
            permissions = ["*"] if "*" in (perms or []) else sorted(set(perms or []))
            if role:
                claims["custom:role"] = role
                groups = [group or role]
            claims["custom:permissions"] = json.dumps(permissions, separators=(",", ":"))
            claims["custom:features"] = json.dumps(on, separators=(",", ":"))
            scopes = [p for p in permissions if "*" not in p]
    answer = dict(event)
    answer["response"] = {
        "claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": claims},
            "accessTokenGeneration": {"claimsToAddOrOverride": dict(claims), "scopesToAdd": scopes},
            "groupOverrideDetails": {"groupsToOverride": groups},
        }
    }
    return answer


def timed(call: Any, events: list[dict[str, Any]], *, before: Any = None) -> list[float]:
    samples = []
    for event in events:
        if before is not None:
            before()
        started = time.perf_counter_ns()
        call(event)
        samples.append((time.perf_counter_ns() - started) / 1000)  # microseconds
    return samples


def summary(name: str, samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<34} {median:>10.1f} {p99:>10.1f} {len(samples):>8}")
    return median, p99


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--flags", type=int, default=25)
    parser.add_argument("--hot-users", type=int, default=500, help="distinct users in the timed mix")
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="leave the scratch database in place")
    args = parser.parse_args()

    server = server_url()
    recreate(server)
    bench_url = with_database(server, BENCH_DB)
    os.environ.update(
        DATABASE_URL=bench_url,
        DJANGO_SETTINGS_MODULE="backoffice.settings_triggers",
        ENV_FILE="",
        GATEHOUSE_ENV="test",
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        CLAIMS_CACHE_SECONDS="300",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        subs = seed(users=args.users, companies=args.companies, flags=args.flags, seed_value=args.seed)

        from django.db import connection

        from triggers.claims import claims_cache_clear
        from triggers.lambda_handler import handler

        # Keep the real log formatting (its cost is part of an invocation) but not the terminal.
        devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        for log_handler in logging.getLogger().handlers:
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.setStream(devnull)

        rng = random.Random(args.seed)
        hot = rng.sample(subs, k=min(args.hot_users, len(subs)))
        events = [event_for(rng.choice(hot)) for _ in range(args.iterations)]

        import psycopg

        raw = psycopg.connect(conninfo(bench_url), autocommit=True, prepare_threshold=None)

        def gatehouse(event: dict[str, Any]) -> dict[str, Any]:
            return handler(event, None)

        def baseline(event: dict[str, Any]) -> dict[str, Any]:
            return baseline_invoke(raw, event)

        # Same answers, or the comparison means nothing.
        for sub in hot[:50]:
            ours = gatehouse(event_for(sub))["response"]["claimsAndScopeOverrideDetails"]
            theirs = baseline(event_for(sub))["response"]["claimsAndScopeOverrideDetails"]
            assert (
                ours["idTokenGeneration"]["claimsToAddOrOverride"]
                == (theirs["idTokenGeneration"]["claimsToAddOrOverride"])
            ), sub
            assert (
                ours["accessTokenGeneration"]["scopesToAdd"] == theirs["accessTokenGeneration"]["scopesToAdd"]
            )
            assert ours["groupOverrideDetails"] == theirs["groupOverrideDetails"]

        # Warm up both paths (connections, imports, the claims cache for every hot user).
        claims_cache_clear()
        for sub in hot:
            gatehouse(event_for(sub))
            baseline(event_for(sub))

        base = timed(baseline, events)
        warm = timed(gatehouse, events)
        cold = timed(gatehouse, events, before=claims_cache_clear)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            (pg_version,) = cursor.fetchone()
        raw.close()

        print(f"\npre token generation, V2 event, {len(events)} invocations over {len(hot)} users")
        print(f"Python {sys.version.split()[0]}, {pg_version.split(',')[0]}")
        print(f"{'':<34} {'median us':>10} {'p99 us':>10} {'n':>8}")
        base_median, base_p99 = summary("baseline (raw psycopg, no cache)", base)
        warm_median, warm_p99 = summary("gatehouse warm (cache holds)", warm)
        cold_median, cold_p99 = summary("gatehouse cache-cold (1 query)", cold)
        print(
            f"\nratio gatehouse/baseline  warm: median {warm_median / base_median:.2f}, "
            f"p99 {warm_p99 / base_p99:.2f}   cache-cold: median {cold_median / base_median:.2f}, "
            f"p99 {cold_p99 / base_p99:.2f}"
        )
        verdict = "met" if warm_median <= base_median else "NOT met"
        print(f"target (warm median <= baseline median): {verdict}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate(server, drop_only=True)


if __name__ == "__main__":
    main()
