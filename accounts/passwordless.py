"""Passwordless sign-in codes: the domain behind define, create and verify auth challenge.

Define decides the next step from the session, create issues a code and emails it, verify
checks an answer. The code is drawn from `secrets`, emailed, and otherwise exists only as
a keyed hash in a LoginCode row; the session carries the row's id in
privateChallengeParameters (Cognito never shows those to the client) and challengeMetadata
(so a retry after a wrong answer keeps the same code and sends no second email). Expiry,
attempts and single use are enforced on that row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from accounts.models import LoginCode
from accounts.recipients import recipient_for
from accounts.sign_in import SignInRefused, sign_in_check
from accounts.trusted_source import canonical_address
from core.addresses import mask_email, normalize_email
from core.db import delete_old_in_batches
from tenants.messages import email_queue_rendered, render_checked
from tenants.ratelimit import rate_limit_hit

CUSTOM_CHALLENGE = "CUSTOM_CHALLENGE"
METADATA_PREFIX = "LOGIN_CODE:"
MAX_ANSWER_CHARS = 64  # longer answers are wrong without being hashed


@dataclass(frozen=True, slots=True)
class ChallengeStep:
    """One entry of the session Cognito passes to define and create auth challenge."""

    name: str
    result: bool
    metadata: str = ""


@dataclass(frozen=True, slots=True)
class ChallengeDecision:
    """What define auth challenge answers. `reason` says why, for the log."""

    issue_tokens: bool = False
    fail: bool = False
    challenge_name: str | None = None
    reason: str = ""


def passwordless_next_step(
    *, session: list[ChallengeStep], user_not_found: bool, sub: str, ip_address: str = ""
) -> ChallengeDecision:
    """Decide the next step of a CUSTOM_AUTH session: another code challenge, tokens, or failure.

    Only the emailed code is a step of this flow: a session holding SRP or password
    steps was not started by our app, and fails. A suspended user or company fails at
    every step, including right after a correct answer. Before tokens are issued the
    company's IP allowlist holds too, on `ip_address`, the trusted address from
    RespondToAuthChallenge's ClientMetadata: pre authentication may not run for custom
    auth, and the first define (from InitiateAuth) gets no metadata (docs/security.md).
    """
    if user_not_found:
        return ChallengeDecision(fail=True, reason="user_not_found")
    if any(step.name != CUSTOM_CHALLENGE for step in session):
        return ChallengeDecision(fail=True, reason="unexpected_challenge")
    answered = bool(session) and session[-1].result
    try:
        sign_in_check(sub=sub, ip_address=ip_address, enforce_allowlist=answered)
    except SignInRefused as refused:
        reason = "ip_not_allowed" if refused.reason == "ip_not_allowed" else "suspended"
        return ChallengeDecision(fail=True, reason=reason)
    if answered:
        return ChallengeDecision(issue_tokens=True, reason="answered")
    if sum(1 for step in session if not step.result) >= settings.LOGIN_CODE_MAX_ATTEMPTS:
        return ChallengeDecision(fail=True, reason="too_many_attempts")
    return ChallengeDecision(challenge_name=CUSTOM_CHALLENGE, reason="challenge")


class PasswordlessRefused(Exception):
    """A code cannot be issued; `public_message` is safe to show, `reason` is for logs."""

    def __init__(self, public_message: str, *, reason: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssuedLoginCode:
    challenge_id: str
    destination: str  # masked email
    code_length: int
    expires_at: datetime
    reused: bool  # a retry in the same session: no new code, no new email

    @property
    def metadata(self) -> str:
        return f"{METADATA_PREFIX}{self.challenge_id}"


def _code_hash(challenge_id: uuid.UUID | str, code: str) -> str:
    message = f"login-code:{challenge_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _challenge_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.removeprefix(METADATA_PREFIX))
    except (ValueError, AttributeError):
        return None


def login_code_generate(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def login_code_issue(
    *, username: str, sub: str, email: str, locale: str = "", previous_metadata: str = ""
) -> IssuedLoginCode:
    """Issue a sign-in code for this session and email it, or reuse the session's code on a retry.

    Each new code counts against the per-user limit (LOGIN_CODES_PER_WINDOW per
    LOGIN_CODE_WINDOW_SECONDS, in Postgres). The email is stored in the outbox in the
    same transaction as the code and sent through SES after commit.
    """
    email = normalize_email(email)
    length = settings.LOGIN_CODE_LENGTH
    previous = _challenge_id(previous_metadata) if previous_metadata.startswith(METADATA_PREFIX) else None
    if previous is not None:
        row = (
            LoginCode.objects.usable()
            .filter(pk=previous, username=username, attempts__lt=settings.LOGIN_CODE_MAX_ATTEMPTS)
            .only("pk", "expires_at")
            .first()
        )
        if row is not None:
            return IssuedLoginCode(str(row.pk), mask_email(email), length, row.expires_at, reused=True)
    # A code mailed moments ago is answered again, whatever the session: Cognito retries a
    # slow CreateAuthChallenge, and anyone knowing the username can start sessions, and
    # neither may mail a second code or spend the user's per-window cap.
    # 0 turns it off: "created in the last 0 s" would still match a concurrent twin's row,
    # whose created_at can be a moment later than this call's clock.
    recent = (
        LoginCode.objects.usable()
        .filter(
            username=username[:128],
            attempts__lt=settings.LOGIN_CODE_MAX_ATTEMPTS,
            created_at__gt=timezone.now() - timedelta(seconds=settings.LOGIN_CODE_REUSE_SECONDS),
        )
        .order_by("-created_at")
        .only("pk", "expires_at")
        .first()
        if settings.LOGIN_CODE_REUSE_SECONDS > 0
        else None
    )
    if recent is not None:
        return IssuedLoginCode(str(recent.pk), mask_email(email), length, recent.expires_at, reused=True)
    if "@" not in email:
        raise PasswordlessRefused("This account has no email address for a sign-in code", reason="no_email")
    if not rate_limit_hit(
        scope="login_code",
        key=sub or username,
        limit=settings.LOGIN_CODES_PER_WINDOW,
        window_seconds=settings.LOGIN_CODE_WINDOW_SECONDS,
    ):
        raise PasswordlessRefused(
            "Too many sign-in codes requested. Please wait a few minutes", reason="rate_limited"
        )
    recipient = recipient_for(sub=sub, username=username, email=email, locale=locale)
    code = login_code_generate(length)
    challenge_id = uuid.uuid4()
    expires_at = timezone.now() + timedelta(seconds=settings.LOGIN_CODE_TTL_SECONDS)
    rendered = render_checked(
        key="login_code",
        language=recipient.language,
        company=recipient.company,
        context={
            "user": recipient.user_context(),
            "code": code,
            "minutes_valid": max(1, settings.LOGIN_CODE_TTL_SECONDS // 60),
        },
        required={"code": code},
        fields=("html_body", "text_body"),
        secret=True,
    )
    with transaction.atomic():
        LoginCode.objects.create(
            id=challenge_id,
            username=username[:128],
            cognito_sub=sub[:64],
            code_hash=_code_hash(challenge_id, code),
            expires_at=expires_at,
        )
        # The outbox seals the body, drops it once SES has it, and drops it unsent when the
        # code expires: no staff member can read a live code from the row.
        email_queue_rendered(
            key=f"login_code:{challenge_id}",
            rendered=rendered,
            template="login_code",
            to=email,
            company=recipient.company,
            profile=recipient.profile,
            expires_at=expires_at,
        )
    return IssuedLoginCode(str(challenge_id), mask_email(email), length, expires_at, reused=False)


def _column(name: str) -> str:
    # Only concrete fields are named, and those always have a column.
    return cast(str, cast("Field[Any, Any]", LoginCode._meta.get_field(name)).column)


@cache
def _verify_sql() -> tuple[str, str]:
    meta = LoginCode._meta
    qn = connection.ops.quote_name
    col = {name: qn(_column(name)) for name in ("id", "username", "code_hash", "used_at")}
    attempts, expires_at = qn(_column("attempts")), qn(_column("expires_at"))
    table = qn(meta.db_table)
    # Identifiers come from the model's _meta; every value is a parameter.
    count = (
        f"UPDATE {table} SET {attempts} = {attempts} + 1 "  # noqa: S608
        f"WHERE {col['id']} = %s AND {col['username']} = %s AND {col['used_at']} IS NULL "
        f"AND {expires_at} > %s AND {attempts} < %s RETURNING {col['code_hash']}"
    )
    use = (
        f"UPDATE {table} SET {col['used_at']} = %s, {attempts} = {attempts} - 1 "  # noqa: S608
        f"WHERE {col['id']} = %s AND {col['used_at']} IS NULL"
    )
    return count, use


def login_answer_source_allowed(*, address: str) -> bool:
    """Count one code answer from this trusted caller address (across users); False over the cap.

    RespondToAuthChallenge is the first call whose ClientMetadata reaches these triggers, so
    this is where a source can be counted; without a trusted address only per-user caps hold.
    """
    key = canonical_address(address)
    if not key:
        return True
    return rate_limit_hit(
        scope="login_answer_source",
        key=key,
        limit=settings.LOGIN_ANSWERS_PER_SOURCE_PER_WINDOW,
        window_seconds=settings.LOGIN_CODE_WINDOW_SECONDS,
    )


def login_code_verify(*, challenge_id: str, username: str, answer: str, source: str = "") -> bool:
    """Whether `answer` is this session's code: unused, unexpired, within the attempt limit.

    A wrong answer of any shape (empty, too long, not digits) counts as an attempt; the
    comparison is constant-time on keyed hashes; a right answer uses the code up.

    Two conditional UPDATEs, no SELECT: the first counts the attempt on a usable code and
    returns its hash, so concurrent answers are counted before any is compared (no more
    than LOGIN_CODE_MAX_ATTEMPTS answers are ever checked); the second marks a right answer
    used, uncounting it, only if still unused, so of two concurrent right answers one wins.
    They share one transaction: one commit (one WAL flush) rather than two, which costs
    more than the BEGIN round trip it saves.
    """
    pk = _challenge_id(challenge_id)
    if pk is None:
        return False
    if source and not login_answer_source_allowed(address=source):
        return False  # over the source's cap: not compared, so not a guess
    answer = (answer or "").strip()
    well_formed = len(answer) <= MAX_ANSWER_CHARS and re.fullmatch(
        rf"[0-9]{{{settings.LOGIN_CODE_LENGTH}}}", answer
    )
    count_sql, use_sql = _verify_sql()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(count_sql, [pk, username, now, settings.LOGIN_CODE_MAX_ATTEMPTS])
        row = cursor.fetchone()
        if row is None:  # unknown, another user's, used, expired or out of attempts
            return False
        if not (well_formed and hmac.compare_digest(row[0], _code_hash(pk, answer))):
            return False
        cursor.execute(use_sql, [now, pk])
        return bool(cursor.rowcount == 1)


def login_codes_prune(*, older_than: timedelta | None = None, deadline: float | None = None) -> int:
    """Delete codes expired LOGIN_CODE_RETENTION_DAYS ago (they prove nothing any more).

    In LIMITed batches read from login_code_expiry (the key is a UUID: no id ranges).
    """
    age = older_than if older_than is not None else timedelta(days=settings.LOGIN_CODE_RETENTION_DAYS)
    return delete_old_in_batches(
        LoginCode.objects.all(),
        time_field="expires_at",
        cutoff=timezone.now() - age,
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )
