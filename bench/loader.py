"""A fast bulk loader: companies, people, invitations and the rest, through COPY.

    python -m bench.loader --scale 0.05            # into bench_gatehouse (must be migrated)

At scale 1: 10,000 companies, 200,000 profiles, 200,000 invitations, and the other
tables in proportion (see COUNTS). Rows satisfy every constraint the models declare
(lower-case emails, one open invitation per company and email, accepted invitations
with their profile, roles only with a company ...), so the admin and the triggers
read them as they would read rows the services wrote. Every unique value carries a
batch prefix, so a second batch can be loaded on top of the first.

Long because every table's COPY is written out beside the others: one place to change when
the schema does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

# Rows per table at scale 1.
COUNTS: dict[str, int] = {
    "companies": 10_000,
    "profiles": 200_000,
    "invitations": 200_000,
    "domains": 10_000,
    "company_roles": 10_000,
    "overrides": 20_000,
    "workspaces": 20_000,
    "activity": 100_000,
    "devices": 50_000,
    "legacy_users": 20_000,
    "side_effects": 50_000,
    "refusals": 20_000,
    "templates": 300,
    "app_clients": 1_000,
    "rate_limits": 10_000,
}
FLAGS = 20
GLOBAL_ROLES = [
    ("USER", "User", ["profile:read"], "USER", 100),
    ("ADMIN", "Administrator", ["profile:read", "users:invite"], "ADMIN", 50),
    ("SUPER_ADMIN", "Super admin", ["*"], "SUPER_ADMIN", 10),
]
TIERS = ["free", "pro", "enterprise"]
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
TEMPLATE_KEYS = ["welcome", "invitation", "login_code"]


def invitation_code(seed: str) -> str:
    """A deterministic, valid-looking invitation code (XXXX-XXXX-XXXX-XXXX) for a seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    symbols = "".join(CODE_ALPHABET[b % 32] for b in digest[:16])
    return "-".join(symbols[i : i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """Same as invites.services.invitation_code_hash, without importing Django."""
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalized.encode()).hexdigest()


def preferences(language: str = "en", theme: str = "light") -> str:
    return json.dumps(
        {
            "notifications": {"email": True, "product_updates": False},
            "theme": theme,
            "language": language,
            "timezone": "UTC",
        }
    )


def copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def next_id(conn: psycopg.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])  # type: ignore[index]


def reset_sequences(conn: psycopg.Connection, tables: Iterable[str]) -> None:
    for table in tables:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 1), "
            "max(id) IS NOT NULL) "
            f"FROM {table}"
        )


@dataclass
class Loaded:
    counts: dict[str, int]
    seconds: float


def global_roles(conn: psycopg.Connection) -> dict[str, int]:
    """The global roles, created when missing."""
    for key, name, permissions, group, precedence in GLOBAL_ROLES:
        conn.execute(
            "INSERT INTO tenants_role (key, name, permissions, cognito_group, precedence, company_id) "
            "SELECT %s, %s, %s, %s, %s, NULL WHERE NOT EXISTS "
            "(SELECT 1 FROM tenants_role WHERE key = %s AND company_id IS NULL)",
            [key, name, permissions, group, precedence, key],
        )
    rows = conn.execute("SELECT key, id FROM tenants_role WHERE company_id IS NULL").fetchall()
    return dict(rows)


def load(conninfo: str, *, scale: float = 1.0, prefix: str = "a", seed: int = 8) -> Loaded:
    """Load one batch of generated rows; `prefix` keeps its unique values apart from other batches."""
    started = time.perf_counter()
    rng = random.Random(f"{seed}:{prefix}")
    n = {key: max(1, round(value * scale)) for key, value in COUNTS.items()}
    now = datetime.now(tz=UTC)
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo, prepare_threshold=None) as conn:
        conn.execute("SET synchronous_commit = off")
        roles = global_roles(conn)
        role_ids = [roles["USER"], roles["ADMIN"], roles["SUPER_ADMIN"]]

        # Companies, each with a domain, its own MANAGER role and a couple of flag overrides.
        first_company = next_id(conn, "tenants_company")
        company_ids = list(range(first_company, first_company + n["companies"]))
        counts["companies"] = copy_rows(
            conn,
            "tenants_company",
            [
                "id",
                "name",
                "slug",
                "status",
                "subscription_tier",
                "seat_limit",
                "project_limit",
                "ip_allowlist",
                "brand_display_name",
                "brand_sender_name",
                "brand_logo_url",
                "brand_accent_color",
                "created_at",
                "updated_at",
                "default_role_id",
            ],
            (
                (
                    cid,
                    f"Company {prefix}{i}",
                    f"company-{prefix}{i}",
                    "suspended" if i % 50 == 49 else "active",
                    TIERS[i % 3],
                    None if i % 4 == 0 else 1000,
                    None,
                    [],
                    "",
                    "",
                    "",
                    "#2f6fed",
                    now - timedelta(minutes=i),
                    now,
                    roles["USER"],
                )
                for i, cid in enumerate(company_ids)
            ),
        )
        counts["domains"] = copy_rows(
            conn,
            "tenants_companydomain",
            ["company_id", "domain", "allow_join", "auto_confirm", "verified_at"],
            (
                (
                    company_ids[i % len(company_ids)],
                    f"co{prefix}{i}.example.com",
                    i % 2 == 0,
                    i % 10 == 0,
                    now,
                )
                for i in range(n["domains"])
            ),
        )
        first_role = next_id(conn, "tenants_role")
        company_role = {}
        role_rows = []
        for i in range(n["company_roles"]):
            cid = company_ids[i % len(company_ids)]
            company_role[cid] = first_role + i
            role_rows.append(
                (
                    first_role + i,
                    "MANAGER",
                    "Manager",
                    ["profile:read", "reports:read"],
                    f"MANAGER_{cid}",
                    70,
                    cid,
                )
            )
        counts["company_roles"] = copy_rows(
            conn,
            "tenants_role",
            ["id", "key", "name", "permissions", "cognito_group", "precedence", "company_id"],
            role_rows,
        )

        first_flag = next_id(conn, "tenants_featureflag")
        flag_ids = list(range(first_flag, first_flag + FLAGS))
        counts["flags"] = copy_rows(
            conn,
            "tenants_featureflag",
            ["id", "key", "description", "default_enabled", "enabled_tiers", "created_at"],
            (
                (fid, f"flag-{prefix}-{j}", f"Feature {j}", j % 3 == 0, TIERS[j % 3 :], now)
                for j, fid in enumerate(flag_ids)
            ),
        )
        overrides = set()
        while len(overrides) < min(n["overrides"], len(flag_ids) * len(company_ids)):
            overrides.add((rng.choice(flag_ids), rng.choice(company_ids)))
        counts["overrides"] = copy_rows(
            conn,
            "tenants_featureflagoverride",
            ["flag_id", "company_id", "enabled", "note"],
            ((fid, cid, (fid + cid) % 2 == 0, "") for fid, cid in sorted(overrides)),
        )

        # Profiles: 1 in 20 without a company (and so without a role), a few suspended.
        first_profile = next_id(conn, "tenants_userprofile")
        profile_ids = list(range(first_profile, first_profile + n["profiles"]))
        profile_company: dict[int, int | None] = {}

        def profile_rows() -> Iterable[tuple[Any, ...]]:
            for j, pid in enumerate(profile_ids):
                cid = None if j % 20 == 19 else company_ids[j % len(company_ids)]
                profile_company[pid] = cid
                role = None if cid is None else (company_role.get(cid) if j % 7 == 0 else role_ids[j % 2])
                yield (
                    pid,
                    f"sub-{prefix}-{j:08d}",
                    f"user-{prefix}-{j}",
                    f"u{prefix}{j}@co{prefix}{j % len(company_ids)}.example.com",
                    f"Given{j}",
                    f"Family{j % 997}",
                    "suspended" if j % 100 == 99 else "active",
                    preferences("en" if j % 5 else "fr", "dark" if j % 3 == 0 else "light"),
                    "done",
                    "web" if j % 2 else "",
                    "",
                    "",
                    False,
                    now - timedelta(hours=j % 1000),
                    j % 50,
                    now - timedelta(minutes=j),
                    now,
                    cid,
                    role,
                )

        counts["profiles"] = copy_rows(
            conn,
            "tenants_userprofile",
            [
                "id",
                "cognito_sub",
                "username",
                "email",
                "given_name",
                "family_name",
                "status",
                "preferences",
                "onboarding_step",
                "signup_source",
                "signup_campaign",
                "signup_referrer",
                "migrated_from_legacy",
                "last_login_at",
                "login_count",
                "created_at",
                "updated_at",
                "company_id",
                "role_id",
            ],
            profile_rows(),
        )

        # Invitations: per company; half accepted by a member of that company, the rest
        # pending, expired or revoked. Accepted ones reuse the member's email.
        members: dict[int, list[int]] = {}
        for pid, cid in profile_company.items():
            if cid is not None:
                members.setdefault(cid, []).append(pid)
        emails = {
            pid: f"u{prefix}{j}@co{prefix}{j % len(company_ids)}.example.com"
            for j, pid in enumerate(profile_ids)
        }

        def invitation_rows() -> Iterable[tuple[Any, ...]]:
            used_profiles: set[int] = set()
            for k in range(n["invitations"]):
                cid = company_ids[k % len(company_ids)]
                role = role_ids[k % 2]
                kind = k % 4  # 0, 1 accepted; 2 pending; 3 expired or revoked
                accepted_by = accepted_at = revoked_at = None
                email = f"inv{prefix}{k}@co{prefix}{k % len(company_ids)}.example.com"
                expires = now + timedelta(days=14)
                if kind in (0, 1):
                    candidates = members.get(cid, [])
                    pid = next((p for p in candidates if p not in used_profiles), None)
                    if pid is not None:
                        used_profiles.add(pid)
                        accepted_by, accepted_at, email = pid, now - timedelta(days=1), emails[pid]
                    else:
                        kind = 2
                if kind == 3:
                    if k % 8 == 3:
                        expires = now - timedelta(days=1)
                    else:
                        revoked_at = now - timedelta(hours=1)
                yield (
                    email,
                    code_hash(invitation_code(f"{prefix}:{k}")),
                    expires,
                    now - timedelta(minutes=k),
                    accepted_at,
                    revoked_at,
                    1,
                    now - timedelta(minutes=k),
                    "",
                    accepted_by,
                    cid,
                    None,
                    role,
                )

        counts["invitations"] = copy_rows(
            conn,
            "invites_invitation",
            [
                "email",
                "code_hash",
                "expires_at",
                "created_at",
                "accepted_at",
                "revoked_at",
                "times_sent",
                "last_sent_at",
                "reserved_for_username",
                "accepted_by_id",
                "company_id",
                "created_by_id",
                "role_id",
            ],
            invitation_rows(),
        )

        no_company = [pid for pid, cid in profile_company.items() if cid is None]
        counts["workspaces"] = copy_rows(
            conn,
            "tenants_workspace",
            ["name", "kind", "owner_id", "company_id", "settings", "created_at"],
            (
                (
                    (f"Personal {j}", "personal", no_company[j], None, "{}", now)
                    if j < len(no_company)
                    else (
                        f"Workspace {j}",
                        "company",
                        profile_ids[j % len(profile_ids)],
                        company_ids[j % len(company_ids)],
                        "{}",
                        now,
                    )
                )
                for j in range(n["workspaces"])
            ),
        )
        kinds = ["sign_up", "sign_in", "sign_in", "new_device"]
        counts["activity"] = copy_rows(
            conn,
            "tenants_activityevent",
            ["kind", "profile_id", "company_id", "data", "created_at"],
            (
                (
                    kinds[j % 4],
                    profile_ids[j % len(profile_ids)],
                    profile_company[profile_ids[j % len(profile_ids)]],
                    '{"source": "web"}',
                    now - timedelta(minutes=j),
                )
                for j in range(n["activity"])
            ),
        )
        counts["devices"] = copy_rows(
            conn,
            "tenants_knowndevice",
            ["profile_id", "fingerprint", "description", "first_seen_at", "last_seen_at"],
            (
                (
                    profile_ids[j % len(profile_ids)],
                    hashlib.sha256(f"{prefix}d{j}".encode()).hexdigest(),
                    f"Firefox on device {j}",
                    now,
                    now,
                )
                for j in range(n["devices"])
            ),
        )
        counts["legacy_users"] = copy_rows(
            conn,
            "tenants_legacyuser",
            [
                "email",
                "given_name",
                "family_name",
                "password_hash",
                "company_id",
                "role_id",
                "imported_at",
                "migrated_at",
            ],
            (
                (
                    f"legacy{prefix}{j}@old.example.com",
                    f"Old{j}",
                    "User",
                    "pbkdf2_sha256$1000$salt$" + hashlib.sha256(f"{j}".encode()).hexdigest()[:43] + "=",
                    company_ids[j % len(company_ids)],
                    roles["USER"],
                    now,
                    None,
                )
                for j in range(n["legacy_users"])
            ),
        )
        counts["side_effects"] = copy_rows(
            conn,
            "outbox_sideeffect",
            [
                "key",
                "kind",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "created_at",
                "done_at",
                "subject",
            ],
            (
                (
                    f"email:welcome:{prefix}:{j}",
                    "send_email",
                    json.dumps({"to": "x@example.com", "subject": "Welcome", "template": "welcome"}),
                    "done" if j % 10 else "failed",
                    1 if j % 10 else 8,
                    now,
                    "" if j % 10 else "EndpointConnectionError: could not connect",
                    now - timedelta(minutes=j),
                    now if j % 10 else None,
                    f"profile:{profile_ids[j % len(profile_ids)]}",
                )
                for j in range(n["side_effects"])
            ),
        )
        reasons = ["invitation_required", "invitation_unknown", "domain_not_allowed", "rate_limited"]
        counts["refusals"] = copy_rows(
            conn,
            "invites_signuprefusal",
            [
                "created_at",
                "trigger_source",
                "reason",
                "email",
                "detail",
                "invitation_id",
                "company_id",
                "user_pool_id",
            ],
            (
                (
                    now - timedelta(minutes=j),
                    "PreSignUp_SignUp",
                    reasons[j % 4],
                    f"r{prefix}{j}@elsewhere.example",
                    "no invitation code",
                    None,
                    None,
                    "us-east-1_bench",
                )
                for j in range(n["refusals"])
            ),
        )
        counts["templates"] = copy_rows(
            conn,
            "tenants_emailtemplate",
            [
                "key",
                "language",
                "company_id",
                "subject",
                "html_body",
                "text_body",
                "sms_body",
                "updated_at",
                "updated_by_id",
            ],
            (
                (
                    TEMPLATE_KEYS[j % 3],
                    "en",
                    company_ids[j // 3 % len(company_ids)],
                    "Hello {{ user.given_name }}",
                    "<p>Hello {{ user.given_name }} from {{ company.display_name }}</p>",
                    "Hello {{ user.given_name }} from {{ company.display_name }}",
                    "",
                    now,
                    None,
                )
                for j in range(min(n["templates"], 3 * len(company_ids)))
            ),
        )
        counts["app_clients"] = copy_rows(
            conn,
            "tenants_appclient",
            ["client_id", "name", "company_id", "allowed_scopes", "is_active", "created_at"],
            (
                (
                    f"client{prefix}{j}",
                    f"Machine client {j}",
                    company_ids[j % len(company_ids)],
                    ["api/read"],
                    True,
                    now,
                )
                for j in range(n["app_clients"])
            ),
        )
        counts["rate_limits"] = copy_rows(
            conn,
            "tenants_ratelimitcounter",
            ["scope", "key", "window_start", "count"],
            (
                (
                    "signup_ip",
                    hashlib.sha256(f"{prefix}ip{j}".encode()).hexdigest(),
                    now.replace(minute=0),
                    j % 5,
                )
                for j in range(n["rate_limits"])
            ),
        )
        conn.execute(
            "INSERT INTO invites_signuppolicy (id, invitation_required, domain_allowlist, "
            "auto_confirm_domains, signups_per_ip_per_hour, employee_id_pattern, updated_at) "
            "VALUES (1, true, '{}', '{}', 20, '', now()) ON CONFLICT (id) DO NOTHING"
        )
        reset_sequences(
            conn,
            [
                "tenants_company",
                "tenants_companydomain",
                "tenants_role",
                "tenants_featureflag",
                "tenants_featureflagoverride",
                "tenants_userprofile",
                "invites_invitation",
                "tenants_workspace",
                "tenants_activityevent",
                "tenants_knowndevice",
                "tenants_legacyuser",
                "outbox_sideeffect",
                "invites_signuprefusal",
                "tenants_emailtemplate",
                "tenants_appclient",
                "tenants_ratelimitcounter",
            ],
        )
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return Loaded(counts=counts, seconds=time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    from bench.common import BENCH_DB, psycopg_conninfo

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--prefix", default="a")
    parser.add_argument("--db", default=BENCH_DB)
    args = parser.parse_args(argv)
    loaded = load(psycopg_conninfo(args.db), scale=args.scale, prefix=args.prefix)
    total = sum(loaded.counts.values())
    print(f"loaded {total} rows in {loaded.seconds:.1f} s: {loaded.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
