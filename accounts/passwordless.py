"""Passwordless sign-in codes and Cognito's custom messages: the domain behind three triggers.

Passwordless (CUSTOM_CHALLENGE): define decides the next step from the session, create
issues a code and emails it, verify checks an answer. The code is drawn from `secrets`,
emailed, and otherwise exists only as a keyed hash in a LoginCode row; the session
carries the row's id in privateChallengeParameters (Cognito never shows those to the
client) and challengeMetadata (so a retry after a wrong answer keeps the same code and
sends no second email). Expiry, attempts and single use are enforced on that row.

Custom messages: every CustomMessage_* source is rendered from the email template staff
edit, in the user's language and with their company's branding, and checked before
Cognito gets it: a staff template that breaks, drops Cognito's placeholder or is too
long falls back to the default files and the reason is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
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

from tenants.emails import (
    EMAIL_MAX_CHARS,
    SMS_MAX_CHARS,
    RenderedEmail,
    TemplateProblem,
    default_source,
    problem_summary,
    render_source,
)
from tenants.models import Company, UserProfile
from tenants.selectors import company_email_context, email_template_source, profile_with_company
from tenants.services import mask_email, normalize_email, rate_limit_hit, user_email_context
from triggers.models import LoginCode

logger = logging.getLogger(__name__)

CUSTOM_CHALLENGE = "CUSTOM_CHALLENGE"
METADATA_PREFIX = "LOGIN_CODE:"
MAX_ANSWER_CHARS = 64  # longer answers are wrong without being hashed


# --- Who a message or a code is for -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    profile: UserProfile | None
    company: Company | None
    language: str
    given_name: str
    family_name: str
    email: str

    def user_context(self) -> dict[str, str]:
        """What {{ user }} holds in every email template (tenants.services.user_email_context)."""
        return user_email_context(
            self.profile, given_name=self.given_name, family_name=self.family_name, email=self.email
        )


def language_for(*, profile: UserProfile | None, locale: str = "") -> str:
    """The profile's language, else the primary subtag of the `locale` attribute, else en."""
    if profile is not None:
        return profile.language.strip().lower()[:10] or "en"
    primary = re.split(r"[-_]", (locale or "").strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "en"


def _recipient(
    *,
    sub: str,
    username: str,
    email: str,
    locale: str,
    given_name: str = "",
    family_name: str = "",
    from_invitation: bool = False,
) -> Recipient:
    profile = profile_with_company(sub=sub)
    company = profile.company if profile is not None else None
    if profile is None and from_invitation:
        # A user not yet onboarded (AdminCreateUser, a sign-up in progress): the company
        # that invited them. Never a company named by the client.
        from invites.selectors import invitation_pending_for_email, invitation_reserved_for

        invitation = invitation_reserved_for(username=username) or invitation_pending_for_email(
            email=normalize_email(email)
        )
        company = invitation.company if invitation is not None else None
    return Recipient(
        profile=profile,
        company=company,
        language=language_for(profile=profile, locale=locale),
        given_name=profile.given_name if profile is not None else given_name,
        family_name=profile.family_name if profile is not None else family_name,
        email=profile.email if profile is not None else normalize_email(email),
    )


# --- Rendering with a checked fallback -----------------------------------------------------


class UnusableTemplate(Exception):
    """Even the default template cannot carry this message (an unexpected Cognito placeholder)."""


def _problems(
    rendered: RenderedEmail, *, required: dict[str, str], fields: tuple[str, ...], sms: bool
) -> list[str]:
    problems = []
    for label, needed in required.items():
        for name in fields:
            if needed not in getattr(rendered, name):
                problems.append(f"{name} lacks the {label} placeholder")
        if sms and rendered.sms_body and needed not in rendered.sms_body:
            problems.append(f"sms_body lacks the {label} placeholder")
    for name in fields:
        if len(getattr(rendered, name)) > EMAIL_MAX_CHARS:
            problems.append(f"{name} is longer than {EMAIL_MAX_CHARS} characters")
    if sms and len(rendered.sms_body) > SMS_MAX_CHARS:
        problems.append(f"sms_body is longer than {SMS_MAX_CHARS} characters")
    if not rendered.subject:
        problems.append("the subject is empty")
    return problems


def render_checked(
    *,
    key: str,
    language: str,
    company: Company | None,
    context: dict[str, Any],
    required: dict[str, str],
    fields: tuple[str, ...] = ("html_body",),
    sms: bool = False,
    secret: bool = False,
) -> RenderedEmail:
    """Render the most specific template, or the default one when it cannot carry the message.

    `required` strings (name -> text: Cognito's placeholders, a code) must appear in every field in
    `fields`, and in the SMS when `sms`. A staff template with an empty SMS text keeps
    its email and takes the default SMS. `secret`: the context holds a real code, so
    the log names the failing fields only (a render error could quote a value).
    """
    full_context = {"company": company_email_context(company), "app_url": settings.APP_URL, **context}
    source = email_template_source(key=key, language=language, company=company)
    try:
        rendered = render_source(source, full_context)
        problems = _problems(rendered, required=required, fields=fields, sms=sms)
    except TemplateProblem as problem:
        rendered = None
        # problem_summary: a render error quotes the value it choked on (the user's address).
        problems = sorted(problem.message_dict) if secret else problem_summary(problem)
    if rendered is not None and not problems:
        if sms and not rendered.sms_body and source.origin != "default":
            default_sms = render_source(default_source(key, language), full_context).sms_body
            return RenderedEmail(
                rendered.subject, rendered.html_body, rendered.text_body, default_sms, rendered.origin
            )
        return rendered
    if source.origin == "default":
        raise UnusableTemplate(f"default template {key}: {'; '.join(problems)}")
    logger.warning(
        "email template unusable, using the default",
        extra={
            "template_key": key,
            "language": language,
            "origin": source.origin,
            "company_id": company.pk if company is not None else None,
            "problems": problems[:10],
        },
    )
    fallback = render_source(default_source(key, language), full_context)
    problems = _problems(fallback, required=required, fields=fields, sms=sms)
    if problems:
        raise UnusableTemplate(f"default template {key}: {'; '.join(problems)}")
    return fallback


# --- Custom messages -----------------------------------------------------------------------

CUSTOM_MESSAGE_KEYS = {
    "CustomMessage_SignUp": "cm_sign_up",
    "CustomMessage_ResendCode": "cm_resend_code",
    "CustomMessage_ForgotPassword": "cm_forgot_password",
    "CustomMessage_UpdateUserAttribute": "cm_update_user_attribute",
    "CustomMessage_VerifyUserAttribute": "cm_verify_user_attribute",
    "CustomMessage_AdminCreateUser": "cm_admin_create_user",
    "CustomMessage_Authentication": "cm_authentication",
}


@dataclass(frozen=True, slots=True)
class CustomMessage:
    email_subject: str
    email_message: str
    sms_message: str
    template_key: str
    origin: str  # company, language or default


def custom_message_render(
    *,
    trigger_source: str,
    code_parameter: str,
    username_parameter: str = "",
    username: str = "",
    sub: str = "",
    email: str = "",
    locale: str = "",
    given_name: str = "",
    family_name: str = "",
) -> CustomMessage | None:
    """The message Cognito sends for a CustomMessage_* source; None for a source we have no template for.

    Cognito puts the code where `code_parameter` ({####}) stands, and for AdminCreateUser
    the username where `username_parameter` stands: both must survive the template.
    When even the default cannot carry them (a placeholder Cognito has never sent),
    None tells the caller to leave Cognito's own message in place.
    """
    key = CUSTOM_MESSAGE_KEYS.get(trigger_source)
    if key is None or not code_parameter:
        return None
    required = {"code": code_parameter}
    if key == "cm_admin_create_user":
        required["username"] = username_parameter
    recipient = _recipient(
        sub=sub,
        username=username,
        email=email,
        locale=locale,
        given_name=given_name,
        family_name=family_name,
        from_invitation=True,
    )
    context = {
        "user": recipient.user_context(),
        "code": code_parameter,
        # Other sources may print a username too; Cognito substitutes only in AdminCreateUser.
        "username": username_parameter or username,
    }
    try:
        rendered = render_checked(
            key=key,
            language=recipient.language,
            company=recipient.company,
            context=context,
            required=required,
            sms=True,
        )
    except UnusableTemplate as exc:
        logger.error("custom message left to Cognito", extra={"template_key": key, "problem": str(exc)})
        return None
    return CustomMessage(
        email_subject=rendered.subject,
        email_message=rendered.html_body,
        sms_message=rendered.sms_body,
        template_key=key,
        origin=rendered.origin,
    )


# --- Passwordless sign-in ------------------------------------------------------------------


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
    *, session: list[ChallengeStep], user_not_found: bool, sub: str
) -> ChallengeDecision:
    """Decide the next step of a CUSTOM_AUTH session: another code challenge, tokens, or failure.

    Only the emailed code is a step of this flow: a session holding SRP or password
    steps was not started by our app, and fails. A suspended user or company fails at
    every step, including right after a correct answer.
    """
    if user_not_found:
        return ChallengeDecision(fail=True, reason="user_not_found")
    if any(step.name != CUSTOM_CHALLENGE for step in session):
        return ChallengeDecision(fail=True, reason="unexpected_challenge")
    profile = profile_with_company(sub=sub)
    if profile is not None and (
        not profile.is_active or (profile.company is not None and not profile.company.is_active)
    ):
        return ChallengeDecision(fail=True, reason="suspended")
    if session and session[-1].result:
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
    if "@" not in email:
        raise PasswordlessRefused("This account has no email address for a sign-in code.", reason="no_email")
    if not rate_limit_hit(
        scope="login_code",
        key=sub or username,
        limit=settings.LOGIN_CODES_PER_WINDOW,
        window_seconds=settings.LOGIN_CODE_WINDOW_SECONDS,
    ):
        raise PasswordlessRefused(
            "Too many sign-in codes requested. Please wait a few minutes.", reason="rate_limited"
        )
    recipient = _recipient(sub=sub, username=username, email=email, locale=locale)
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
    from outbox.models import SideEffectKind
    from outbox.services import email_sender, side_effect_enqueue

    with transaction.atomic():
        LoginCode.objects.create(
            id=challenge_id,
            username=username[:128],
            cognito_sub=sub[:64],
            code_hash=_code_hash(challenge_id, code),
            expires_at=expires_at,
        )
        # The outbox scrubs the body once SES has it; until then the row holds the code.
        side_effect_enqueue(
            key=f"email:login_code:{challenge_id}",
            kind=SideEffectKind.SEND_EMAIL,
            payload={
                "to": email,
                "from": email_sender(recipient.company),
                "subject": rendered.subject,
                "html": rendered.html_body,
                "text": rendered.text_body,
                "template": "login_code",
                "origin": rendered.origin,
            },
            profile=recipient.profile,
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


def login_code_verify(*, challenge_id: str, username: str, answer: str) -> bool:
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


def login_codes_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete codes expired for a while (they prove nothing any more)."""
    deleted, _ = LoginCode.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
