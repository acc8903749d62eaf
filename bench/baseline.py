"""Raw-psycopg trigger handlers: the baselines Gatehouse is measured against.

What a careful engineer would write without Django: one psycopg connection per container
(autocommit, prepared statements off as behind RDS Proxy), hand-written SQL doing the
same reads and writes as Gatehouse's services (the same rows, the same outbox and task
rows for side effects), and the same response. They are deliberately competent: upserts
with ON CONFLICT instead of get_or_create's SELECT + SAVEPOINT + INSERT, one transaction
per write path. tests/bench/ checks that each answers like Gatehouse and writes the same
rows, so a baseline never wins by doing less.

This module imports nothing from Django or Gatehouse, so it is also the cold-start
baseline: `python -m bench.baseline cold EVENT_JSON` answers one pre token generation
event from a fresh process.

Long on purpose: each raw handler writes out the same SQL Gatehouse runs, so a reader can
compare them statement by statement.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "emails"


def connect(conninfo: str | None = None) -> psycopg.Connection:
    """The container's connection, as the raw handler would open it at cold start."""
    url = conninfo or os.environ["DATABASE_URL"]
    url = url.replace("pgsql://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=2)


# --- Pre token generation ---------------------------------------------------------------------

TOKEN_SQL = """
SELECT p.status, p.preferences, m.company_id, c.name, c.status, c.subscription_tier,
       r.key, r.cognito_group, r.permissions,
       ARRAY(SELECT json_build_object('k', f.key, 'd', f.default_enabled, 't', f.enabled_tiers)
             FROM tenants_featureflag f),
       ARRAY(SELECT json_build_object('k', f.key, 'e', o.enabled)
             FROM tenants_featureflagoverride o JOIN tenants_featureflag f ON f.id = o.flag_id
             WHERE o.company_id = p.active_company_id),
       ARRAY(SELECT json_build_object('c', om.company_id, 'r', orole.key)
             FROM tenants_membership om LEFT JOIN tenants_role orole ON orole.id = om.role_id
             WHERE om.profile_id = p.id AND om.status = 'active'
               AND om.company_id IS DISTINCT FROM p.active_company_id
             ORDER BY om.company_id)
FROM tenants_userprofile p
LEFT JOIN tenants_membership m
       ON m.profile_id = p.id AND m.company_id = p.active_company_id AND m.status = 'active'
LEFT JOIN tenants_company c ON c.id = p.active_company_id
LEFT JOIN tenants_role r ON r.id = m.role_id
WHERE p.cognito_sub = %s
LIMIT 1
"""

OWNED = (
    "custom:companyId",
    "custom:companyName",
    "custom:role",
    "custom:permissions",
    "custom:features",
    "custom:subscriptionTier",
    "custom:theme",
    "custom:language",
    "custom:companies",
)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def token_claims(conn: psycopg.Connection, sub: str) -> dict[str, Any] | None:
    """The claims, groups and scopes for a sub, in one query; None when there is no profile."""
    row = conn.execute(TOKEN_SQL, [sub]).fetchone() if sub else None
    if row is None:
        return None
    (
        status,
        prefs,
        company_id,
        company_name,
        company_status,
        tier,
        role,
        group,
        granted,
        flags,
        overrides,
        others,
    ) = row
    prefs = prefs if isinstance(prefs, dict) else {}
    elevated = status == "active" and (company_id is None or company_status == "active")
    tier = tier if company_id is not None else None
    claims: dict[str, str] = {}
    if company_id is not None:
        claims["custom:companyId"] = str(company_id)
        claims["custom:companyName"] = company_name or ""
    permissions: tuple[str, ...] = ()
    features: list[str] = []
    if elevated:
        on = {o["k"]: bool(o["e"]) for o in overrides or ()}
        for flag in flags or ():
            value = on.get(flag["k"])
            if value is None:
                value = (tier is not None and tier in (flag["t"] or [])) or bool(flag["d"])
            if value:
                features.append(flag["k"])
        features.sort()
        if role:
            granted = granted or []
            permissions = ("*",) if "*" in granted else tuple(sorted(set(granted)))
            claims["custom:role"] = role
        claims["custom:permissions"] = _compact(list(permissions))
        claims["custom:features"] = _compact(features)
    claims["custom:subscriptionTier"] = tier or "free"
    claims["custom:theme"] = str(prefs.get("theme") or "light")
    claims["custom:language"] = str(prefs.get("language") or "en")
    if others and status == "active":
        claims["custom:companies"] = _compact({str(o["c"]): o["r"] or "" for o in others})
    return {
        "claims": claims,
        "suppress": [name for name in OWNED if name not in claims],
        "groups": [group or role] if (elevated and role) else [],
        "scopes": [p for p in permissions if "*" not in p] if elevated else [],
    }


def pre_token_generation(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    """Answer a pre token generation event (V1 claimsOverrideDetails, V2/V3 claimsAndScope...)."""
    sub = ((event.get("request") or {}).get("userAttributes") or {}).get("sub", "")
    grant = token_claims(conn, sub)
    answer = dict(event)
    if grant is None:
        grant = {
            "claims": {"custom:theme": "light", "custom:language": "en"},
            "suppress": [n for n in OWNED if n not in ("custom:theme", "custom:language")],
            "groups": [],
            "scopes": [],
        }
    existing = dict(event.get("response") or {})
    v2 = str(event.get("version", "1")).partition(".")[0] in ("2", "3") or "scopes" in (
        event.get("request") or {}
    )
    groups = {"groupsToOverride": grant["groups"]}
    if v2:
        existing.pop("claimsOverrideDetails", None)
        existing["claimsAndScopeOverrideDetails"] = {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": dict(grant["claims"]),
                "scopesToAdd": grant["scopes"],
            },
            "idTokenGeneration": {
                "claimsToAddOrOverride": grant["claims"],
                "claimsToSuppress": grant["suppress"],
            },
            "groupOverrideDetails": groups,
        }
    else:
        existing.pop("claimsAndScopeOverrideDetails", None)
        existing["claimsOverrideDetails"] = {
            "claimsToAddOrOverride": grant["claims"],
            "claimsToSuppress": grant["suppress"],
            "groupOverrideDetails": groups,
        }
    answer["response"] = existing
    return answer


# --- Pre sign-up (with an invitation code) ----------------------------------------------------


def _code_hash(code: str) -> str:
    return hashlib.sha256("".join(ch for ch in code.upper() if ch.isalnum()).encode()).hexdigest()


SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Whether outbox.services writes a django-tasks-db row per side effect (SIDE_EFFECT_TASKS; the
# trigger settings the bench runs turn it off: no worker runs them on Lambda).
TASK_ROWS = os.environ.get("SIDE_EFFECT_TASKS", "false").lower() in ("1", "true", "yes", "on")
# tenants.memberships.ADMIN_PERMISSIONS: a company's first member holding one becomes its owner.
ADMIN_PERMISSIONS = frozenset({"*", "users:manage"})


class Refused(Exception):
    pass


TRUSTED_BACKEND_SECRET = os.environ.get("TRUSTED_BACKEND_SECRET", "")
SIGNUPS_PER_EMAIL_PER_HOUR = int(os.environ.get("SIGNUPS_PER_EMAIL_PER_HOUR", "5"))
UNTRUSTED_SIGNUPS_PER_HOUR = int(os.environ.get("UNTRUSTED_SIGNUPS_PER_HOUR", "500"))


def _hit(conn: psycopg.Connection, scope: str, value: str, limit: int) -> None:
    if limit <= 0:
        return
    now = time.time()
    window = datetime.fromtimestamp(now - now % 3600, tz=UTC)
    key = hashlib.sha256(f"{SECRET_KEY}:{value}".encode()).hexdigest()
    (count,) = conn.execute(
        "INSERT INTO tenants_ratelimitcounter (scope, key, window_start, count) "
        "VALUES (%s, %s, %s, 1) "
        "ON CONFLICT (scope, key, window_start) DO UPDATE SET count = tenants_ratelimitcounter.count + 1 "
        "RETURNING count",
        [scope, key, window],
    ).fetchone()
    if count > limit:
        raise Refused("rate_limited")


def _signup_limits(conn: psycopg.Connection, meta: dict[str, str], email: str, per_ip: int) -> None:
    """accounts.signup_limits: a signed address per address, else per email and overall."""
    ip, signature, stamp = (meta.get(k, "").strip() for k in ("ipAddress", "ipSignature", "ipTimestamp"))
    trusted = ""
    if (
        TRUSTED_BACKEND_SECRET
        and ip
        and signature
        and stamp.isdigit()
        and -30 <= time.time() - int(stamp) <= 300
    ):
        message = "\n".join(["gatehouse-ip-v1", ip, email, stamp]).encode()
        expected = hmac.new(TRUSTED_BACKEND_SECRET.encode(), message, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode(), signature.lower().encode()):
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                address = None
            if isinstance(address, ipaddress.IPv6Address):
                mapped = address.ipv4_mapped
                trusted = str(mapped) if mapped else str(ipaddress.IPv6Network((address, 64), strict=False))
            elif address is not None:
                trusted = str(address)
    if trusted:
        _hit(conn, "signup_ip", trusted, per_ip)
    else:
        _hit(conn, "signup_email", email, SIGNUPS_PER_EMAIL_PER_HOUR)
        _hit(conn, "signup_untrusted", "all", UNTRUSTED_SIGNUPS_PER_HOUR)


def pre_sign_up(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    """The same rules and statements as accounts.sign_up.signup_evaluate for a self sign-up."""
    request = event.get("request") or {}
    attrs = request.get("userAttributes") or {}
    meta = request.get("clientMetadata") or {}
    username = event.get("userName", "")
    email = (attrs.get("email") or "").strip().lower()
    domain = email.rpartition("@")[2]
    policy = conn.execute(
        "SELECT invitation_required, domain_allowlist, auto_confirm_domains, signups_per_ip_per_hour, "
        "employee_id_pattern FROM invites_signuppolicy WHERE id = 1"
    ).fetchone()
    required, allowlist, auto_domains, per_ip, pattern = policy
    rule = conn.execute(
        "SELECT d.allow_join, d.auto_confirm, c.id, c.status, c.seat_limit, c.active_members "
        "FROM tenants_companydomain d "
        "JOIN tenants_company c ON c.id = d.company_id WHERE lower(d.domain) = %s LIMIT 1",
        [domain],
    ).fetchone()
    if allowlist and domain not in allowlist and rule is None:
        raise Refused("domain_not_allowed")
    employee_id = (attrs.get("custom:employeeId") or "").strip()
    if pattern and (not employee_id or len(employee_id) > 64 or re.fullmatch(pattern, employee_id) is None):
        raise Refused("employee_id_invalid")
    code = meta.get("invitationCode") or meta.get("invitation_code") or ""
    if code:
        normalized = "".join(ch for ch in code.upper() if ch.isalnum())
        if len(normalized) != 16:
            raise Refused("invitation_unknown")
        inv = conn.execute(
            "SELECT i.id, i.email, i.expires_at, i.accepted_at, i.revoked_at, i.reserved_for_username, "
            "c.id, c.status, c.seat_limit, c.active_members FROM invites_invitation i "
            "JOIN tenants_company c ON c.id = i.company_id "
            "JOIN tenants_role r ON r.id = i.role_id WHERE i.code_hash = %s LIMIT 1",
            [_code_hash(normalized)],
        ).fetchone()
        if inv is None:
            raise Refused("invitation_unknown")
        (
            inv_id,
            inv_email,
            expires,
            accepted,
            revoked,
            reserved,
            _company_id,
            company_status,
            seats,
            members,
        ) = inv
        if inv_email != email:
            raise Refused("invitation_email_mismatch")
        if accepted or revoked or expires <= datetime.now(tz=UTC):
            raise Refused("invitation_not_pending")
        if reserved and username and reserved != username:
            raise Refused("invitation_used")
        if company_status != "active":
            raise Refused("company_suspended")
        # The seat counter kept under the company row lock (tenants.memberships), not a COUNT.
        if seats is not None and members >= seats:
            raise Refused("company_full")
        if per_ip:
            _signup_limits(conn, meta, email, per_ip)
        updated = conn.execute(
            "UPDATE invites_invitation SET reserved_for_username = %s WHERE accepted_at IS NULL "
            "AND revoked_at IS NULL AND id = %s AND reserved_for_username IN ('', %s)",
            [username, inv_id, username],
        ).rowcount
        if not updated:
            raise Refused("invitation_used")
    elif required and not (rule and rule[0]):
        raise Refused("invitation_required")
    elif per_ip:
        _signup_limits(conn, meta, email, per_ip)
    auto = domain in (auto_domains or []) or bool(rule and rule[1])
    answer = dict(event)
    answer["response"] = {
        **(event.get("response") or {}),
        "autoConfirmUser": auto,
        "autoVerifyEmail": auto and bool(domain),
        "autoVerifyPhone": False,
    }
    return answer


# --- Post confirmation (onboarding by the invitation reserved in pre sign-up) -----------------

_TAG = re.compile(r"\{%\s*if\s+([\w.]+)\s*%\}(.*?)(?:\{%\s*else\s*%\}(.*?))?\{%\s*endif\s*%\}", re.S)
_VAR = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_template_cache: dict[str, str] = {}


def _lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value


def render(text: str, context: dict[str, Any], *, escape: bool) -> str:
    """A minimal template engine for the default email files: {{ a.b }} and flat {% if %}."""

    def branch(match: re.Match[str]) -> str:
        return match.group(2) if _lookup(context, match.group(1)) else (match.group(3) or "")

    def var(match: re.Match[str]) -> str:
        value = str(_lookup(context, match.group(1)))
        return html.escape(value) if escape else value

    return _VAR.sub(var, _TAG.sub(branch, text))


def _default_template(key: str, part: str) -> str:
    name = f"{key}.{part}"
    if name not in _template_cache:
        _template_cache[name] = (TEMPLATES / "en" / name).read_text()
    return _template_cache[name]


def _seal(content: dict[str, str]) -> str:
    """Encrypt an email's subject and bodies as Gatehouse does (outbox/crypto.py): same cost."""
    from cryptography.fernet import Fernet

    keys = os.environ.get("OUTBOX_ENCRYPTION_KEYS", "")
    if not keys:
        import base64

        secret = os.environ.get("SECRET_KEY", "insecure-development-key-never-use-in-production")
        keys = base64.urlsafe_b64encode(
            hashlib.sha256(b"gatehouse-outbox:" + secret.encode()).digest()
        ).decode()
    return (
        Fernet(keys.split(",")[0].encode())
        .encrypt(json.dumps(content, separators=(",", ":")).encode())
        .decode()
    )


def _enqueue(cur: psycopg.Cursor, *, key: str, kind: str, payload: dict[str, Any], profile_id: int) -> None:
    """The outbox row, and its task row where Gatehouse writes one, as outbox.services does.

    TASK_ROWS follows SIDE_EFFECT_TASKS: the bench runs the trigger settings, where it is off.
    """
    row = cur.execute(
        "INSERT INTO outbox_sideeffect (key, kind, payload, status, attempts, last_error, subject, "
        "created_at, done_at) VALUES (%s, %s, %s, 'pending', 0, '', %s, now(), NULL) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        [key[:200], kind, json.dumps(payload), f"profile:{profile_id}" if profile_id else ""],
    ).fetchone()
    if row is None or not TASK_ROWS:
        return
    cur.execute(
        "INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, args_kwargs, priority, "
        "task_path, worker_ids, queue_name, backend_name, run_after, exception_class_path, traceback) "
        "VALUES (%s, 'READY', now(), %s, 0, 'outbox.tasks.perform_side_effect', '[]', 'default', 'default', "
        "'9999-01-01 00:00:00+00', '', '')",
        [uuid.uuid4(), json.dumps({"args": [], "kwargs": {"side_effect_id": row[0]}})],
    )


DEFAULT_PREFERENCES = json.dumps(
    {
        "notifications": {"email": True, "product_updates": False},
        "theme": "light",
        "language": "en",
        "timezone": "UTC",
    }
)


def post_confirmation(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    """Onboard: profile, accepted invitation, activity, group and welcome email side effects."""
    request = event.get("request") or {}
    attrs = request.get("userAttributes") or {}
    sub, username = attrs.get("sub", ""), event.get("userName", "")
    email = (attrs.get("email") or "").strip().lower()
    pool = event.get("userPoolId", "")
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(
            "INSERT INTO tenants_userprofile (cognito_sub, username, email, given_name, family_name, status, "
            "preferences, onboarding_step, signup_source, signup_campaign, signup_referrer, "
            "migrated_from_legacy, login_count, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, 'active', %s, 'new', '', '', '', "
            "false, 0, now(), now()) ON CONFLICT (cognito_sub) DO NOTHING RETURNING id",
            [
                sub,
                username,
                email,
                attrs.get("given_name", ""),
                attrs.get("family_name", ""),
                DEFAULT_PREFERENCES,
            ],
        ).fetchone()
        if row is None:  # a replay: onboarded already
            return {**event, "response": {**(event.get("response") or {})}}
        (profile_id,) = row
        inv = cur.execute(
            "SELECT i.id, i.email, i.company_id, i.accepted_by_id, i.expires_at, r.id, r.key, r.name, "
            "r.cognito_group, r.precedence, r.permissions FROM invites_invitation i "
            "JOIN tenants_role r ON r.id = i.role_id "
            "WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.reserved_for_username = %s "
            "ORDER BY i.created_at DESC LIMIT 1 FOR UPDATE OF i",
            [username],
        ).fetchone()
        company = role = None
        if inv is not None:
            (inv_id, inv_email, company_id, _, expires, role_id, role_key, role_name, group, precedence,
             permissions) = inv  # fmt: skip
            company = cur.execute(
                "SELECT id, name, status, seat_limit, brand_display_name, brand_logo_url, "
                "brand_accent_color, brand_sender_name, active_members, owner_id "
                "FROM tenants_company WHERE id = %s FOR NO KEY UPDATE",
                [company_id],
            ).fetchone()
            ok = inv_email == email and expires > datetime.now(tz=UTC) and company[2] == "active"
            if ok and company[3] is not None:
                # The seat counter, read under the company row lock (tenants.memberships).
                ok = company[8] < company[3]
            if ok:
                # tenants.memberships.membership_add: the membership, the counter (and the
                # owner, for a company's first administrator), the profile's mirrored columns.
                cur.execute(
                    "INSERT INTO tenants_membership (profile_id, company_id, role_id, status, route, "
                    "created_at, updated_at, ended_at) VALUES (%s, %s, %s, 'active', 'invitation', now(), "
                    "now(), NULL) ON CONFLICT DO NOTHING RETURNING id",
                    [profile_id, company_id, role_id],
                ).fetchone()
                owner = company[9] is None and bool(ADMIN_PERMISSIONS & set(permissions or ()))
                cur.execute(
                    "UPDATE tenants_company SET active_members = active_members + 1, "
                    "owner_id = CASE WHEN %s THEN %s ELSE owner_id END WHERE id = %s",
                    [owner, profile_id, company_id],
                )
                cur.execute(
                    "UPDATE tenants_userprofile SET active_company_id = %s, company_id = %s, role_id = %s, "
                    "updated_at = now() WHERE id = %s",
                    [company_id, company_id, role_id, profile_id],
                )
                cur.execute(
                    "UPDATE invites_invitation SET accepted_by_id = %s, accepted_at = now() WHERE id = %s",
                    [profile_id, inv_id],
                )
                role = (role_key, role_name, group or role_key, precedence)
            else:
                company = None
        if company is None:
            cur.execute(
                "INSERT INTO tenants_workspace (name, kind, owner_id, company_id, settings, created_at) "
                "VALUES ('Personal workspace', 'personal', %s, NULL, '{}', now())",
                [profile_id],
            )
        cur.execute(
            "INSERT INTO tenants_activityevent (kind, profile_id, company_id, data, created_at) "
            "VALUES ('sign_up', %s, %s, %s, now())",
            [
                profile_id,
                company[0] if company else None,
                json.dumps({"source": "", "campaign": "", "referrer": ""}),
            ],
        )
        if role is not None and pool and username:
            _enqueue(
                cur,
                key=f"onboard:group:{sub}",
                kind="cognito_add_to_group",
                payload={"user_pool_id": pool, "username": username, "group": role[2], "precedence": role[3]},
                profile_id=profile_id,
            )
        if "@" in email:
            rows = cur.execute(
                "SELECT company_id, subject, html_body, text_body FROM tenants_emailtemplate "
                "WHERE key = 'welcome' AND language = 'en' AND (company_id IS NULL OR company_id = %s)",
                [company[0] if company else None],
            ).fetchall()
            rows.sort(key=lambda r: r[0] is None)
            display = (company[4] or company[1]) if company else "Gatehouse"
            context = {
                "company": {
                    "name": company[1] if company else "Gatehouse",
                    "display_name": display,
                    "logo_url": company[5] if company else "",
                    "accent_color": company[6] if company else "#2f6fed",
                },
                "app_url": os.environ.get("APP_URL", "http://127.0.0.1:8000"),
                "user": {"given_name": attrs.get("given_name", ""), "email": email},
            }
            if rows:
                subject, html_body, text_body = rows[0][1:]
            else:
                subject = _default_template("welcome", "subject.txt")
                html_body = _default_template("welcome", "html")
                text_body = _default_template("welcome", "txt")
            _enqueue(
                cur,
                key=f"email:welcome:{sub}",
                kind="send_email",
                payload={
                    "to": email,
                    "from": os.environ.get("SES_SENDER", "Gatehouse <no-reply@example.com>"),
                    "sealed": _seal(
                        {
                            "subject": render(subject, context, escape=False).strip(),
                            "html": render(html_body, context, escape=True),
                            "text": render(text_body, context, escape=False),
                        }
                    ),
                    "template": "welcome",
                    "origin": "company" if rows else "default",
                },
                profile_id=profile_id,
            )
    return {**event, "response": {**(event.get("response") or {})}}


# --- Passwordless: define, create and verify auth challenge ---------------------------------

PROFILE_SQL = (
    "SELECT p.id, p.status, p.preferences, p.given_name, p.family_name, p.email, c.id, c.status, c.name, "
    "c.brand_display_name, c.brand_logo_url, c.brand_accent_color, c.brand_sender_name "
    "FROM tenants_userprofile p LEFT JOIN tenants_company c ON c.id = p.company_id "
    "WHERE p.cognito_sub = %s LIMIT 1"
)


def _company_context(row: Any) -> dict[str, str]:
    if row is None or row[6] is None:
        return {"name": "Gatehouse", "display_name": "Gatehouse", "logo_url": "", "accent_color": "#2f6fed"}
    return {"name": row[8], "display_name": row[9] or row[8], "logo_url": row[10], "accent_color": row[11]}


def define_auth_challenge(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request") or {}
    session = request.get("session") or []
    sub = (request.get("userAttributes") or {}).get("sub", "")
    fields: dict[str, Any] = {"challengeName": None, "issueTokens": False, "failAuthentication": False}
    if request.get("userNotFound") is True or any(
        s.get("challengeName") != "CUSTOM_CHALLENGE" for s in session
    ):
        fields["failAuthentication"] = True
    else:
        row = conn.execute(PROFILE_SQL, [sub]).fetchone() if sub else None
        if row is not None and (row[1] != "active" or (row[6] is not None and row[7] != "active")):
            fields["failAuthentication"] = True
        elif session and session[-1].get("challengeResult"):
            fields["issueTokens"] = True
        elif sum(1 for s in session if not s.get("challengeResult")) >= 3:
            fields["failAuthentication"] = True
        else:
            fields["challengeName"] = "CUSTOM_CHALLENGE"
    return {**event, "response": {**(event.get("response") or {}), **fields}}


def login_code_hash(challenge_id: Any, code: str) -> str:
    import hmac

    return hmac.new(
        SECRET_KEY.encode(), f"login-code:{challenge_id}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def create_auth_challenge(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    import secrets

    request = event.get("request") or {}
    attrs = request.get("userAttributes") or {}
    sub, username = attrs.get("sub", ""), event.get("userName", "")
    email = (attrs.get("email") or "").strip().lower()
    now = time.time()
    window = datetime.fromtimestamp(now - now % 900, tz=UTC)
    (count,) = conn.execute(
        "INSERT INTO tenants_ratelimitcounter (scope, key, window_start, count) "
        "VALUES ('login_code', %s, %s, 1) "
        "ON CONFLICT (scope, key, window_start) DO UPDATE SET count = tenants_ratelimitcounter.count + 1 "
        "RETURNING count",
        [hashlib.sha256(f"{SECRET_KEY}:{sub or username}".encode()).hexdigest(), window],
    ).fetchone()
    if count > 5:
        raise Refused("rate_limited")
    row = conn.execute(PROFILE_SQL, [sub]).fetchone() if sub else None
    code = "".join(secrets.choice("0123456789") for _ in range(6))
    challenge_id = uuid.uuid4()
    language = str(((row[2] if row else None) or {}).get("language") or "en")
    company_id = row[6] if row else None
    templates = conn.execute(
        "SELECT company_id, subject, html_body, text_body FROM tenants_emailtemplate "
        "WHERE key = 'login_code' AND language = %s AND (company_id IS NULL OR company_id = %s)",
        [language, company_id],
    ).fetchall()
    templates.sort(key=lambda r: r[0] is None)
    context = {
        "company": _company_context(row),
        "user": {"given_name": row[3] if row else "", "email": email},
        "code": code,
        "minutes_valid": 5,
    }
    origin = "default"
    for candidate in [*templates[:1], None]:
        # A staff template that drops the code falls back to the default files, as Gatehouse does.
        if candidate is not None:
            subject, html_body, text_body = candidate[1:]
        else:
            subject = _default_template("login_code", "subject.txt")
            html_body = _default_template("login_code", "html")
            text_body = _default_template("login_code", "txt")
        html_out = render(html_body, context, escape=True)
        text_out = render(text_body, context, escape=False)
        if code in html_out and code in text_out:
            origin = "default" if candidate is None else ("company" if candidate[0] else "language")
            break
    else:
        raise Refused("template lost the code")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO triggers_logincode (id, username, cognito_sub, code_hash, expires_at, attempts, "
            "created_at) "
            "VALUES (%s, %s, %s, %s, now() + interval '300 seconds', 0, now())",
            [challenge_id, username, sub, login_code_hash(challenge_id, code)],
        )
        _enqueue(
            cur,
            key=f"email:login_code:{challenge_id}",
            kind="send_email",
            payload={
                "to": email,
                "from": os.environ.get("SES_SENDER", "Gatehouse <no-reply@example.com>"),
                "sealed": _seal(
                    {
                        "subject": render(subject, context, escape=False).strip(),
                        "html": html_out,
                        "text": text_out,
                    }
                ),
                "template": "login_code",
                "origin": origin,
            },
            profile_id=row[0] if row else None,
        )
    local, _, domain = email.partition("@")
    return {
        **event,
        "response": {
            **(event.get("response") or {}),
            "publicChallengeParameters": {
                "deliveryMedium": "EMAIL",
                "destination": f"{local[:1]}***@{domain}",
                "codeLength": "6",
            },
            "privateChallengeParameters": {"challengeId": str(challenge_id)},
            "challengeMetadata": f"LOGIN_CODE:{challenge_id}",
        },
    }


def verify_auth_challenge(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    import hmac

    request = event.get("request") or {}
    challenge_id = (request.get("privateChallengeParameters") or {}).get("challengeId", "")
    answer = str(request.get("challengeAnswer") or "").strip()
    correct = False
    try:
        pk = uuid.UUID(challenge_id)
    except ValueError:
        pk = None
    if pk is not None:
        with conn.transaction(), conn.cursor() as cur:
            row = cur.execute(
                "SELECT code_hash, expires_at, attempts, used_at FROM triggers_logincode "
                "WHERE id = %s AND username = %s FOR UPDATE",
                [pk, event.get("userName", "")],
            ).fetchone()
            if row is not None and row[3] is None and row[1] > datetime.now(tz=UTC) and row[2] < 3:
                correct = bool(re.fullmatch(r"[0-9]{6}", answer)) and hmac.compare_digest(
                    row[0], login_code_hash(pk, answer)
                )
                if correct:
                    cur.execute("UPDATE triggers_logincode SET used_at = now() WHERE id = %s", [pk])
                else:
                    cur.execute("UPDATE triggers_logincode SET attempts = attempts + 1 WHERE id = %s", [pk])
    return {**event, "response": {**(event.get("response") or {}), "answerCorrect": correct}}


# --- Custom message ---------------------------------------------------------------------------

CUSTOM_MESSAGE_KEYS = {
    "CustomMessage_SignUp": "cm_sign_up",
    "CustomMessage_ResendCode": "cm_resend_code",
    "CustomMessage_ForgotPassword": "cm_forgot_password",
    "CustomMessage_UpdateUserAttribute": "cm_update_user_attribute",
    "CustomMessage_VerifyUserAttribute": "cm_verify_user_attribute",
    "CustomMessage_AdminCreateUser": "cm_admin_create_user",
    "CustomMessage_Authentication": "cm_authentication",
}


def custom_message(conn: psycopg.Connection, event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request") or {}
    attrs = request.get("userAttributes") or {}
    key = CUSTOM_MESSAGE_KEYS.get(event.get("triggerSource", ""))
    code = request.get("codeParameter") or ""
    if key is None or not code:
        return {
            **event,
            "response": {
                **(event.get("response") or {}),
                "emailSubject": None,
                "emailMessage": None,
                "smsMessage": None,
            },
        }
    row = conn.execute(PROFILE_SQL, [attrs.get("sub", "")]).fetchone() if attrs.get("sub") else None
    language = str(((row[2] if row else None) or {}).get("language") or "en")
    templates = conn.execute(
        "SELECT company_id, subject, html_body, text_body, sms_body FROM tenants_emailtemplate "
        "WHERE key = %s AND language = %s AND (company_id IS NULL OR company_id = %s)",
        [key, language, row[6] if row else None],
    ).fetchall()
    templates.sort(key=lambda r: r[0] is None)
    if templates:
        subject, html_body, _text, sms = templates[0][1:]
    else:
        subject = _default_template(key, "subject.txt")
        html_body = _default_template(key, "html")
        sms = _default_template(key, "sms.txt")
    context = {
        "company": _company_context(row),
        "user": {
            "given_name": row[3] if row else attrs.get("given_name", ""),
            "email": attrs.get("email", ""),
        },
        "code": code,
        "username": request.get("usernameParameter") or event.get("userName", ""),
    }
    html_out = render(html_body, context, escape=True)
    sms_out = render(sms, context, escape=False).strip()
    if code not in html_out or code not in sms_out or len(html_out) > 20000 or len(sms_out) > 140:
        raise Refused("template cannot carry the code")
    return {
        **event,
        "response": {
            **(event.get("response") or {}),
            "emailSubject": " ".join(render(subject, context, escape=False).split()),
            "emailMessage": html_out,
            "smsMessage": sms_out,
        },
    }


# --- Cold start ------------------------------------------------------------------------------


def cold(event_json: str) -> None:
    """What a raw Lambda does on a cold start: import, connect, answer one event."""
    event = json.loads(event_json)
    conn = connect()
    answer = pre_token_generation(conn, event)
    sys.stdout.write(json.dumps(answer["response"], sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "cold":
        cold(sys.argv[2])
    else:
        sys.exit("usage: python -m bench.baseline cold EVENT_JSON")
