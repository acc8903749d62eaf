"""Warm latency, queries and throughput of every trigger against its raw-psycopg baseline; cold start.

    python -m bench.triggers_warm [--runs N]      # run by bench/run.py in a child process
    python -m bench.triggers_warm --cold [--runs N]

The warm part runs in one process set up as the trigger Lambda is (backoffice.settings_triggers,
production settings), on the bench database holding the loader's small batch. Gatehouse is
called through triggers.lambda_handler.handler, the raw baseline (bench.baseline) through
one psycopg connection; their runs are interleaved in a shuffled order. Work that writes
gets a fresh row per run (a new invitation, a new user, a new code) for both contenders,
so neither measures an idempotent replay. AWS points at a closed port and the inline
side-effect budget is 0: side effects are stored in the outbox and left to the queue.

Long because every trigger's row (setup, Gatehouse call, raw call, checks that both did the
same) sits in one table-shaped file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import PYTHON, ROOT, Row, Stats, child_env, emit, interleaved, not_built, signed_ip

SECTION = "triggers"
# The targets (issue 15), as ratios of medians to the raw handler in the same run.
OTHER_RATIO = 2.0
POOL = "us-east-1_bench"
# Active members of active companies with a role: users whose tokens carry every claim.
MEMBER_SUBS_SQL = (
    "SELECT p.cognito_sub FROM tenants_userprofile p JOIN tenants_company c ON c.id = p.company_id "
    "WHERE p.status = 'active' AND c.status = 'active' AND p.role_id IS NOT NULL ORDER BY p.id"
)


def event(
    source: str, *, username: str, attributes: dict[str, str], version: str = "1", **request: Any
) -> dict:
    return {
        "version": version,
        "triggerSource": source,
        "region": "us-east-1",
        "userPoolId": POOL,
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "bench-client"},
        "request": {"userAttributes": attributes, **request},
        "response": {},
    }


def token_event(sub: str, *, version: str = "1") -> dict:
    extra: dict[str, Any] = {"groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": []}}
    if version != "1":
        extra["scopes"] = ["openid", "email"]
    return event(
        "TokenGeneration_RefreshTokens",
        username=f"user-{sub}",
        attributes={"sub": sub, "email": "someone@example.com", "custom:role": "SUPER_ADMIN"},
        version=version,
        **extra,
    )


# --- Fixtures: fresh rows for write paths, written with the raw connection -------------------------


@dataclass
class Fixtures:
    conn: Any
    company_id: int
    role_id: int
    subs: list[str]

    @classmethod
    def load(cls, conn: Any) -> Fixtures:
        company_id, role_id = conn.execute(
            "SELECT c.id, r.id FROM tenants_company c, tenants_role r WHERE c.status = 'active' "
            "AND c.seat_limit IS NOT NULL AND r.key = 'USER' AND r.company_id IS NULL ORDER BY c.id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE tenants_company SET seat_limit = 1000000 WHERE id = %s", [company_id])
        subs = [row[0] for row in conn.execute(MEMBER_SUBS_SQL).fetchall()]
        return cls(conn=conn, company_id=company_id, role_id=role_id, subs=subs)

    def invitation(self, tag: str, *, reserved_for: str = "") -> tuple[str, str]:
        """A pending invitation with a known code; returns (email, code)."""
        from bench.loader import code_hash, invitation_code

        code = invitation_code(f"warm:{tag}:{uuid.uuid4()}")
        email = f"{tag}@warm.example.com"
        self.conn.execute(
            "INSERT INTO invites_invitation (email, code_hash, expires_at, created_at, times_sent, "
            "reserved_for_username, company_id, role_id) "
            "VALUES (%s, %s, now() + interval '14 days', now(), 1, "
            "%s, %s, %s)",
            [email, code_hash(code), reserved_for, self.company_id, self.role_id],
        )
        return email, code

    def login_code(self, username: str, sub: str, code: str) -> str:
        from bench.baseline import login_code_hash

        challenge_id = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO triggers_logincode (id, username, cognito_sub, code_hash, expires_at, attempts, "
            "created_at) VALUES (%s, %s, %s, %s, %s, 0, now())",
            [
                challenge_id,
                username,
                sub,
                login_code_hash(challenge_id, code),
                datetime.now(UTC) + timedelta(minutes=5),
            ],
        )
        return str(challenge_id)


# --- One scenario per trigger ---------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    module: str  # the trigger module that must exist
    make: Callable[[str, int], dict]  # (contender tag, run) -> a fresh event
    raw: Callable[[Any, dict], dict]
    # Largest median ratio to raw that meets the target; None: reported, no target (a cache hit
    # does no query while the raw handler does: no like-for-like ratio to hold it to).
    max_ratio: float | None = OTHER_RATIO
    before_gatehouse: Callable[[], None] | None = None

    @property
    def target(self) -> str:
        return (
            "none: a cache hit, not like for like" if self.max_ratio is None else f"≤ {self.max_ratio:g}x raw"
        )


def scenarios(fx: Fixtures) -> list[Scenario]:
    from bench import baseline

    stamp = uuid.uuid4().hex[:8]
    run_subs = iter(fx.subs)
    per_run_sub: dict[tuple[str, int], str] = {}

    def sub_for(tag: str, i: int) -> str:
        # A different member per run (and per contender) where the work is rate limited per user.
        key = (tag, i)
        if key not in per_run_sub:
            per_run_sub[key] = next(run_subs)
        return per_run_sub[key]

    def pre_sign_up(tag: str, i: int) -> dict:
        name = f"psu-{stamp}-{tag}-{i}"
        email, code = fx.invitation(name)
        return event(
            "PreSignUp_SignUp",
            username=name,
            attributes={"email": email, "custom:companyId": "1", "custom:role": "SUPER_ADMIN"},
            clientMetadata={
                "invitationCode": code,
                **signed_ip(f"10.{i % 250}.{len(tag)}.{hash(stamp) % 250}", email),
            },
            validationData=None,
        )

    def post_confirmation(tag: str, i: int) -> dict:
        name = f"pc-{stamp}-{tag}-{i}"
        email, _ = fx.invitation(name, reserved_for=name)
        return event(
            "PostConfirmation_ConfirmSignUp",
            username=name,
            attributes={
                "sub": str(uuid.uuid4()),
                "email": email,
                "email_verified": "true",
                "given_name": "Ann",
                "cognito:user_status": "CONFIRMED",
            },
            clientMetadata={},
        )

    warm_sub = fx.subs[0]

    def define(tag: str, i: int) -> dict:
        return event(
            "DefineAuthChallenge_Authentication",
            username=f"user-{warm_sub}",
            attributes={"sub": warm_sub, "email": "someone@example.com"},
            session=[],
            userNotFound=False,
        )

    def create(tag: str, i: int) -> dict:
        sub = sub_for(f"create-{tag}", i)
        return event(
            "CreateAuthChallenge_Authentication",
            username=f"user-{sub}",
            attributes={"sub": sub, "email": f"{sub}@warm.example.com"},
            challengeName="CUSTOM_CHALLENGE",
            session=[],
            userNotFound=False,
        )

    def verify(tag: str, i: int) -> dict:
        username = f"verify-{stamp}-{tag}-{i}"
        challenge_id = fx.login_code(username, warm_sub, "123456")
        return event(
            "VerifyAuthChallengeResponse_Authentication",
            username=username,
            attributes={"sub": warm_sub, "email": "someone@example.com"},
            privateChallengeParameters={"challengeId": challenge_id},
            challengeAnswer="123456",
            userNotFound=False,
        )

    def custom_message(tag: str, i: int) -> dict:
        return event(
            "CustomMessage_SignUp",
            username=f"user-{warm_sub}",
            attributes={"sub": warm_sub, "email": "someone@example.com", "given_name": "Ann"},
            codeParameter="{####}",
            usernameParameter=None,
            linkParameter="{##Click Here##}",
        )

    def token_warm(tag: str, i: int) -> dict:
        return token_event(warm_sub)

    def token_cold(tag: str, i: int) -> dict:
        return token_event(sub_for(f"token-{tag}", i))

    def clear_claims() -> None:
        from triggers.claims import claims_cache_clear

        claims_cache_clear()

    return [
        Scenario(
            "pre sign-up, with an invitation",
            "triggers.pre_sign_up",
            pre_sign_up,
            baseline.pre_sign_up,
            max_ratio=2.0,
        ),
        Scenario(
            "post confirmation (invitation, 2 side effects)",
            "triggers.post_confirmation",
            post_confirmation,
            baseline.post_confirmation,
            max_ratio=1.5,
        ),
        # The same raw baseline (it queries every time) for both rows.
        Scenario(
            "pre token generation, claims cache HIT (no query; raw queries)",
            "triggers.pre_token_generation",
            token_warm,
            baseline.pre_token_generation,
            max_ratio=None,
        ),
        Scenario(
            "pre token generation, claims cache miss",
            "triggers.pre_token_generation",
            token_cold,
            baseline.pre_token_generation,
            max_ratio=1.2,
            before_gatehouse=clear_claims,
        ),
        Scenario("define auth challenge", "triggers.auth_challenge", define, baseline.define_auth_challenge),
        Scenario(
            "create auth challenge (code + email)",
            "triggers.auth_challenge",
            create,
            baseline.create_auth_challenge,
        ),
        Scenario("verify auth challenge", "triggers.auth_challenge", verify, baseline.verify_auth_challenge),
        Scenario(
            "custom message (sign-up code)",
            "triggers.custom_message",
            custom_message,
            baseline.custom_message,
        ),
    ]


def no_inline_sends() -> Any:
    """A zero inline budget around an invocation: side effects stay queued, SES is never called.

    Post confirmation opens its own budget (settings: 0 here); create auth challenge opens
    none, and without a budget outbox.services tries the email inline, so the bench sets one.
    """
    from outbox.runner import inline_budget

    return inline_budget(0)


def module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def count_queries(call: Callable[[], Any]) -> tuple[int, int]:
    """Statements one invocation sends: all of them, and those that are not transaction control."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    sqls = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    control = sum(1 for s in sqls if s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")))
    return len(sqls), len(sqls) - control


class CountingCursor:
    """Counts statements sent through the raw connection (psycopg cursor_factory)."""

    count = 0


def raw_counting_connection() -> Any:
    import psycopg

    from bench.baseline import connect

    class Counting(psycopg.Cursor):
        def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            CountingCursor.count += 1
            return super().execute(*args, **kwargs)

    conn = connect()
    conn.cursor_factory = Counting
    return conn


def warm(runs: int, warmup: int, throughput_seconds: float) -> None:
    from triggers.lambda_handler import handler  # sets Django up as the Lambda does

    raw = raw_counting_connection()
    fx = Fixtures.load(raw)
    checked: dict[str, Any] = {}
    for sc in scenarios(fx):
        if not module_exists(sc.module):
            emit(not_built(SECTION, sc.name, sc.target, f"not built yet ({sc.module})"))
            continue
        # Equal work first: both answer the same way (one fresh event each).
        with no_inline_sends():
            gh_answer = handler(sc.make("check-gh", 0), None)["response"]
        raw_answer = sc.raw(raw, sc.make("check-raw", 0))["response"]
        if set(gh_answer) != set(raw_answer):
            checked[sc.name] = f"response keys differ: {sorted(gh_answer)} vs {sorted(raw_answer)}"
        if sc.before_gatehouse:
            sc.before_gatehouse()
        with no_inline_sends():
            queries, statements = count_queries(lambda sc=sc: handler(sc.make("count-gh", 0), None))
        count_event = sc.make("count-raw", 0)  # its fixture rows are written before counting
        CountingCursor.count = 0
        sc.raw(raw, count_event)
        raw_statements = CountingCursor.count
        events = {
            "gh": [sc.make("gh", i) for i in range(-warmup, runs)],
            "raw": [sc.make("raw", i) for i in range(-warmup, runs)],
        }

        def gh(i: int, sc: Scenario = sc, events: dict = events) -> None:
            if sc.before_gatehouse:
                sc.before_gatehouse()
            with no_inline_sends():
                handler(events["gh"][i + warmup], None)

        def rw(i: int, sc: Scenario = sc, events: dict = events) -> None:
            sc.raw(raw, events["raw"][i + warmup])

        samples = interleaved({"gh": gh, "raw": rw}, runs=runs, warmup=warmup)
        g, b = Stats.of(samples["gh"]), Stats.of(samples["raw"])
        ok: bool | None = None
        if sc.max_ratio is not None:
            ok = g.median_ms <= sc.max_ratio * b.median_ms
        if sc.name in checked:
            ok = False  # a baseline that answers differently is no baseline
        emit(
            Row(
                section=SECTION,
                name=sc.name,
                gatehouse=g,
                baseline=b,
                baseline_name="raw psycopg",
                queries=f"{queries} ({statements} excl. BEGIN/SAVEPOINT/COMMIT) / raw {raw_statements}",
                target=sc.target,
                ok=ok,
                note=checked.get(sc.name, ""),
                extra={"queries": queries, "statements": statements, "raw_statements": raw_statements},
            )
        )
    if module_exists("triggers.pre_token_generation"):
        throughput(handler, raw, fx, throughput_seconds)


def throughput(handler: Callable, raw: Any, fx: Fixtures, seconds: float) -> None:
    """Invocations per second on one process, alternating one-second slices of each contender."""
    from bench.baseline import pre_token_generation
    from triggers.claims import claims_cache_clear

    warm_event = token_event(fx.subs[0])
    cold_events = [token_event(sub) for sub in fx.subs[:2000]]

    def rate(call: Callable[[int], Any]) -> float:
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(50):
                call(done)
                done += 1
        return done / (time.perf_counter() - started)

    def gh_cold(i: int) -> None:
        claims_cache_clear()
        handler(cold_events[i % len(cold_events)], None)

    results: dict[str, list[float]] = {"warm": [], "cold": [], "raw": []}
    for _ in range(3):
        results["warm"].append(rate(lambda i: handler(warm_event, None)))
        results["cold"].append(rate(gh_cold))
        results["raw"].append(rate(lambda i: pre_token_generation(raw, cold_events[i % len(cold_events)])))
    best = {k: max(v) for k, v in results.items()}
    for label, key in (("claims cache HIT", "warm"), ("claims cache miss", "cold")):
        emit(
            Row(
                section=SECTION,
                name=f"pre token generation throughput, {label} (invocations/s, 1 process)",
                note=f"Gatehouse {best[key]:,.0f}/s vs raw psycopg {best['raw']:,.0f}/s "
                f"(best of 3 x {seconds:g} s slices, alternated)",
                extra={"gatehouse_per_s": best[key], "raw_per_s": best["raw"]},
            )
        )


# --- Cold start -------------------------------------------------------------------------------

GATEHOUSE_COLD = (
    "import json, sys\n"
    "from triggers.lambda_handler import handler\n"
    "sys.stdout.write(json.dumps(handler(json.loads(sys.argv[1]), None)['response'], sort_keys=True))\n"
)


def cold(runs: int, sub: str) -> None:
    """Spawn fresh processes: Gatehouse's handler, the raw handler, and bare Python; wall time each."""
    if not module_exists("triggers.pre_token_generation"):
        emit(not_built("cold start", "cold start, pre token generation", "≤ 1.5x raw, ≤ 600 ms"))
        return
    env = child_env(
        db=os.environ.get("BENCH_DB_NAME", "bench_gatehouse"),
        settings="backoffice.settings_triggers",
        production=True,
        LOG_LEVEL="WARNING",
    )
    env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployment package ships compiled bytecode
    payload = json.dumps(token_event(sub))
    commands = {
        "gatehouse": [PYTHON, "-c", GATEHOUSE_COLD, payload],
        "raw": [PYTHON, "-m", "bench.baseline", "cold", payload],
        "bare": [PYTHON, "-c", "pass"],
    }
    answers = {}

    def spawn(name: str) -> Callable[[int], None]:
        def run(i: int) -> None:
            out = subprocess.run(
                commands[name], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            )
            answers[name] = out.stdout

        return run

    samples = interleaved({name: spawn(name) for name in commands}, runs=runs, warmup=2)
    same = json.loads(answers["gatehouse"]) == json.loads(answers["raw"])
    g, r, bare = (Stats.of(samples[k]) for k in ("gatehouse", "raw", "bare"))
    emit(
        Row(
            section="cold start",
            name="cold start: new process, import, setup, connect, one pre token event",
            gatehouse=g,
            baseline=r,
            baseline_name="raw psycopg handler",
            queries="1 / raw 1",
            target="≤ 1.5x raw, median ≤ 600 ms",
            ok=g.median_ms <= 1.5 * r.median_ms and g.median_ms <= 600,
            note=("same response" if same else "RESPONSES DIFFER")
            + f"; bare `python -c pass` {bare.median_ms:.0f} ms median",
            extra={"bare_median_ms": bare.median_ms, "bare_p99_ms": bare.p99_ms},
        )
    )
    emit(
        Row(
            section="cold start",
            name="cold start floor: bare Python importing nothing",
            gatehouse=bare,
            note="interpreter start-up of this venv; both handlers pay it",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--throughput-seconds", type=float, default=1.0)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--cold-runs", type=int, default=20)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.cold:
        from bench.baseline import connect

        with connect() as conn:
            sub = conn.execute(MEMBER_SUBS_SQL + " LIMIT 1").fetchone()[0]
        cold(args.cold_runs, sub)
    else:
        warm(args.runs, args.warmup, args.throughput_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
