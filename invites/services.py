"""Invitations: create, send, resend, revoke, extend, check and accept.

Codes come from `secrets` and are stored only as a SHA-256 hash: a code has
80 bits of entropy, so a fast hash is enough and lookups stay indexed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, CharField, F, Func, Q, Value
from django.utils import timezone

from invites.models import Invitation, InvitationStatus, RefusalReason, SignupRefusal
from tenants.grants import role_grant_refusal, role_grantable_by
from tenants.models import Company, Role, UserProfile
from tenants.services import normalize_email

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from invites.selectors import DomainRule

# Crockford's base32 without the look-alikes I, L, O, U: easy to read out and type.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
CODE_GROUPS = 4
CODE_GROUP_LEN = 4  # 16 symbols of 32 = 80 bits
EMAIL_MAX_LENGTH = 254  # Invitation.email's column


class InvitationError(Exception):
    """A rule an invitation broke. `message` is safe to show the end user; `reason` is internal."""

    def __init__(self, reason: RefusalReason, message: str, invitation: Invitation | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.invitation = invitation


USER_MESSAGES: dict[RefusalReason, str] = {
    RefusalReason.INVITATION_REQUIRED: "An invitation code is required to sign up.",
    RefusalReason.INVITATION_UNKNOWN: "This invitation code is not valid.",
    RefusalReason.INVITATION_EMAIL_MISMATCH: "This invitation was sent to a different email address.",
    RefusalReason.INVITATION_EXPIRED: "This invitation has expired. Ask for a new one.",
    RefusalReason.INVITATION_REVOKED: "This invitation has been withdrawn.",
    RefusalReason.INVITATION_USED: "This invitation has already been used.",
    RefusalReason.COMPANY_FULL: "This company has no free seats. Ask an administrator.",
    RefusalReason.COMPANY_SUSPENDED: "This company's account is suspended.",
}


def _refuse(reason: RefusalReason, invitation: Invitation | None = None) -> InvitationError:
    return InvitationError(reason, USER_MESSAGES[reason], invitation)


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """An invitation and its plain code: the one moment the code exists outside a hash."""

    invitation: Invitation
    code: str


def invitation_code_generate() -> str:
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(symbols[i : i + CODE_GROUP_LEN] for i in range(0, len(symbols), CODE_GROUP_LEN))


def invitation_code_normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def invitation_code_hash(code: str) -> str:
    return hashlib.sha256(invitation_code_normalize(code).encode()).hexdigest()


def _default_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


def invitation_validate(
    *, company: Company, email: str, role: Role, actor: AbstractBaseUser | AnonymousUser | None = None
) -> str:
    """Check an invitation could be created; return the normalised email. Raises ValidationError.

    `actor` is the staff member inviting: they must hold every permission of the role
    (tenants.grants). None is Gatehouse itself (seed_demo, a management command), never a person.
    """
    email = normalize_email(email)
    errors: dict[str, str] = {}
    try:
        from django.core.validators import validate_email

        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    if len(email) > EMAIL_MAX_LENGTH:
        # validate_email allows 320; the column holds 254 (RFC 5321's path limit).
        errors["email"] = f"The address is longer than {EMAIL_MAX_LENGTH} characters."
    if role.company_id not in (None, company.pk):
        errors["role"] = f"The role {role.key} belongs to another company."
    elif actor is not None and not role_grantable_by(role=role, actor=actor):
        errors["role"] = role_grant_refusal(role)
    if not errors and (Invitation.objects.pending().filter(company=company, email=email).exists()):
        errors["email"] = f"{email} already has a pending invitation to {company}."
    if not errors and UserProfile.objects.filter(company=company, email=email).exists():
        errors["email"] = f"{email} is already a member of {company}."
    if errors:
        raise ValidationError(errors)
    return email


@transaction.atomic
def invitation_create(
    *,
    company: Company,
    email: str,
    role: Role,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    expires_at: datetime | None = None,
    send: bool = False,
) -> IssuedInvitation:
    """Create an invitation and return it with its code; replaces an expired open one."""
    email = invitation_validate(company=company, email=email, role=role, actor=created_by)
    # An expired invitation still counts as open for the unique constraint: void it.
    Invitation.objects.open().filter(company=company, email=email, expires_at__lte=timezone.now()).update(
        revoked_at=timezone.now()
    )
    code = invitation_code_generate()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                company=company,
                email=email,
                role=role,
                code_hash=invitation_code_hash(code),
                expires_at=expires_at or _default_expiry(),
                created_by=cast("User | None", created_by if getattr(created_by, "pk", None) else None),
            )
    except IntegrityError as exc:
        # Another request created the same invitation between our check and insert.
        raise ValidationError({"email": f"{email} already has a pending invitation to {company}."}) from exc
    if send:
        invitation_send(invitation=invitation, code=code)
    return IssuedInvitation(invitation=invitation, code=code)


def invitation_send(*, invitation: Invitation, code: str) -> None:
    """Queue the invitation email (rendered now, sent after commit by the outbox)."""
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk).update(times_sent=invitation.times_sent + 1, last_sent_at=now)
    invitation.times_sent += 1
    invitation.last_sent_at = now
    _invitation_email_enqueue(invitation=invitation, code=code)


def _invitation_email_enqueue(*, invitation: Invitation, code: str) -> None:
    """Queue the email of an invitation whose times_sent already counts this sending."""
    from outbox.services import email_enqueue

    company = invitation.company
    email_enqueue(
        key=f"invitation:{invitation.pk}:{invitation.times_sent}",
        template="invitation",
        to=invitation.email,
        company=company,
        language="en",
        context={
            "user": {"given_name": "", "family_name": "", "email": invitation.email},
            "role": {"key": invitation.role.key, "name": invitation.role.name},
            "invitation_code": code,
            "expires_at": f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        },
    )


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> IssuedInvitation:
    """Issue a new code (the old one stops working) and send it again."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise ValidationError(f"Only a pending invitation can be resent; this one is {invitation.status}.")
    code = invitation_code_generate()
    invitation.code_hash = invitation_code_hash(code)
    invitation.save(update_fields=["code_hash"])
    invitation_send(invitation=invitation, code=code)
    return IssuedInvitation(invitation=invitation, code=code)


def invitation_revoke(*, invitation: Invitation) -> bool:
    """Revoke an open invitation; False when it was already accepted or revoked."""
    updated = Invitation.objects.open().filter(pk=invitation.pk).update(revoked_at=timezone.now())
    return bool(updated)


def invitation_extend(*, invitation: Invitation, days: int | None = None) -> bool:
    """Push the expiry of an open invitation to `days` from now."""
    new_expiry = timezone.now() + timedelta(days=days or settings.INVITATION_TTL_DAYS)
    updated = Invitation.objects.open().filter(pk=invitation.pk).update(expires_at=new_expiry)
    return bool(updated)


def invitation_find(*, code: str) -> Invitation | None:
    normalized = invitation_code_normalize(code)
    if len(normalized) != CODE_GROUPS * CODE_GROUP_LEN:
        return None
    digest = invitation_code_hash(normalized)
    invitation = Invitation.objects.select_related("company", "role").filter(code_hash=digest).first()
    # The index lookup already matched; compare again in constant time as a belt-and-braces
    # guard against a future change to a prefix or partial lookup.
    if invitation is None or not hmac.compare_digest(invitation.code_hash, digest):
        return None
    return invitation


def company_member_count(company: Company) -> int:
    return UserProfile.objects.filter(company=company).count()


def company_has_free_seat(company: Company) -> bool:
    return company.seat_limit is None or company_member_count(company) < company.seat_limit


def invitation_check(*, code: str, email: str, username: str = "") -> Invitation:
    """Return the invitation a sign-up may use, or raise InvitationError with the reason.

    `username` (Cognito's userName) lets the user the invitation was reserved for pass
    again when Cognito retries the trigger.
    """
    invitation = invitation_find(code=code)
    if invitation is None:
        raise _refuse(RefusalReason.INVITATION_UNKNOWN)
    if not hmac.compare_digest(invitation.email, normalize_email(email)):
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    status = invitation.status
    if status == InvitationStatus.ACCEPTED:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if status == InvitationStatus.REVOKED:
        raise _refuse(RefusalReason.INVITATION_REVOKED, invitation)
    if status == InvitationStatus.EXPIRED:
        raise _refuse(RefusalReason.INVITATION_EXPIRED, invitation)
    if invitation.reserved_for_username and username and invitation.reserved_for_username != username:
        # Bound to another Cognito user that has not confirmed yet: one code, one user.
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if not invitation.company.is_active:
        raise _refuse(RefusalReason.COMPANY_SUSPENDED, invitation)
    if not company_has_free_seat(invitation.company):
        raise _refuse(RefusalReason.COMPANY_FULL, invitation)
    return invitation


def invitation_reserve(*, invitation: Invitation, username: str) -> None:
    """Bind a pending invitation to the Cognito user about to use it (first one wins)."""
    updated = (
        Invitation.objects.open()
        .filter(pk=invitation.pk, reserved_for_username__in=["", username])
        .update(reserved_for_username=username)
    )
    if not updated:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, profile: UserProfile) -> Invitation:
    """Accept an invitation for a profile, exactly once, within the company's seat limit.

    Locks the invitation, then the company row, so concurrent acceptances of one code
    serialize, and concurrent joins of one company cannot exceed its seats. Accepting
    again for the same profile is a no-op (Cognito retries triggers).
    """
    # NO KEY UPDATE, and only the invitation row (not the joined role): a refusal recorded at
    # the same moment takes FOR KEY SHARE on this invitation and its company for its foreign
    # keys, and plain FOR UPDATE here deadlocked with it (tests/reliability/test_concurrency).
    invitation = (
        Invitation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("role")
        .get(pk=invitation.pk)
    )
    if invitation.accepted_by_id == profile.pk:
        return invitation
    if invitation.email != normalize_email(profile.email):
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    status = invitation.status
    if status == InvitationStatus.ACCEPTED:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if status == InvitationStatus.REVOKED:
        raise _refuse(RefusalReason.INVITATION_REVOKED, invitation)
    if status == InvitationStatus.EXPIRED:
        raise _refuse(RefusalReason.INVITATION_EXPIRED, invitation)
    company = Company.objects.select_for_update(no_key=True).get(pk=invitation.company_id)
    if not company.is_active:
        raise _refuse(RefusalReason.COMPANY_SUSPENDED, invitation)
    if profile.company_id != company.pk and not company_has_free_seat(company):
        raise _refuse(RefusalReason.COMPANY_FULL, invitation)
    profile.company = company
    profile.role = invitation.role
    profile.save(update_fields=["company", "role", "updated_at"])
    invitation.accepted_by = profile
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return invitation


@transaction.atomic
def company_join(*, company: Company, profile: UserProfile, role: Role) -> None:
    """Put a profile in a company (domain rule, legacy import) within its seat limit."""
    company = Company.objects.select_for_update(no_key=True).get(pk=company.pk)
    if profile.company_id == company.pk:
        return
    if not company.is_active:
        raise _refuse(RefusalReason.COMPANY_SUSPENDED)
    if not company_has_free_seat(company):
        raise _refuse(RefusalReason.COMPANY_FULL)
    profile.company = company
    profile.role = role
    profile.save(update_fields=["company", "role", "updated_at"])


def refusal_record(
    *,
    trigger_source: str,
    reason: RefusalReason | str,
    email: str = "",
    detail: str = "",
    invitation: Invitation | None = None,
    company: Company | None = None,
    user_pool_id: str = "",
) -> SignupRefusal:
    return SignupRefusal.objects.create(
        trigger_source=trigger_source[:64],
        reason=reason,
        email=normalize_email(email)[:254],
        detail=detail[:2000],
        invitation=invitation,
        company=company or (invitation.company if invitation else None),
        user_pool_id=user_pool_id[:64],
    )


# --- Bulk invitations, export, and inviting by creating the Cognito user (admin) ---------

# One request imports a whole file: the checks and inserts are set-based (a handful of
# statements whatever the row count), so the cap bounds the page and the request, not the SQL.
BULK_INVITATION_MAX_ROWS = 20_000
# About 50 characters a row; the confirm step posts the text back, and Django refuses a body
# above DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default).
BULK_INVITATION_MAX_CHARS = 1_000_000
# Django inserts through UNNEST on PostgreSQL (one bind parameter per column), so a batch is
# bounded by the statement's size, not by Postgres' 65,535 parameters.
BULK_INSERT_BATCH_SIZE = 5000
# A concurrent insert for one of the emails makes us check and insert again; give up after this.
BULK_INSERT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """One line of a bulk invitation: what it would create, or why it cannot."""

    line: int
    email: str
    role_key: str
    expires_at: datetime | None
    role: Role | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True, slots=True)
class BulkInvitationResult:
    rows: list[InvitationRow]
    issued: list[IssuedInvitation]
    written: bool

    @property
    def bad_rows(self) -> list[InvitationRow]:
        return [row for row in self.rows if not row.ok]


def _parse_expiry(value: str) -> datetime:
    """A date (valid to the end of that day, UTC) or an ISO date-time (UTC when naive)."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value)
            parsed = day.replace(hour=23, minute=59, second=59)
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expiry {value!r} is not a date like 2026-12-31") from exc
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)
    except OverflowError as exc:
        # 9999-12-31T23:59-14:00 is year 10000 in UTC: Postgres stores it, Python cannot read it.
        raise ValueError(f"expiry {value[:40]} is too far in the future") from exc
    if parsed <= timezone.now():
        raise ValueError(f"expiry {value} is in the past")
    return parsed


def _csv_lines(text: str) -> list[tuple[int, list[str]]]:
    import csv

    lines = text.splitlines()
    # The first line with a separator decides it: comma, else semicolon, else tab.
    first = next((line for line in lines if any(d in line for d in ",;\t")), "")
    delimiter = "," if "," in first or not any(d in first for d in ";\t") else (";" if ";" in first else "\t")
    rows = []
    for number, cells in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        rows.append((number, cells))
    return rows


class _EqualsAny(Func):
    """`column = ANY(%s)`: the list goes as one array parameter, where `__in` sends one per value."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def _email_in(emails: list[str]) -> Q:
    from django.contrib.postgres.fields import ArrayField

    return Q(_EqualsAny(F("email"), Value(emails, output_field=ArrayField(CharField()))))


def invitation_rows_parse(
    *,
    company: Company,
    text: str,
    default_role: Role | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
) -> list[InvitationRow]:
    """Check every line of a paste or CSV (email, role key, optional expiry) without writing.

    A header line starting with "email" is skipped. A whole-input problem (empty, too many
    rows) raises ValidationError; a bad row is returned with its line number and reason.
    `actor` is the staff member inviting, as in invitation_validate: a row whose role they
    may not grant is a bad row.
    """
    from django.core.validators import validate_email
    from django.db.models import F

    if default_role is not None and default_role.company_id not in (None, company.pk):
        raise ValidationError({"default_role": f"The role {default_role.key} belongs to another company."})
    if default_role and actor is not None and not role_grantable_by(role=default_role, actor=actor):
        raise ValidationError({"default_role": role_grant_refusal(default_role)})
    if len(text) > BULK_INVITATION_MAX_CHARS:
        raise ValidationError(f"The input is larger than {BULK_INVITATION_MAX_CHARS} characters; split it.")
    lines = _csv_lines(text)
    if lines and lines[0][1][0].lower() in {"email", "e-mail", "email address"}:
        lines = lines[1:]
    if not lines:
        raise ValidationError("No rows: give one invitation per line as email,role[,expiry].")
    if len(lines) > BULK_INVITATION_MAX_ROWS:
        raise ValidationError(
            f"{len(lines)} rows; at most {BULK_INVITATION_MAX_ROWS} at once. Split the file."
        )

    roles: dict[str, Role] = {}
    role: Role | None
    # The company's own roles first, so they win over a global role of the same key.
    for role in Role.objects.for_company(company).order_by(F("company_id").asc(nulls_last=True)):
        roles.setdefault(role.key, role)
    emails = [normalize_email(cells[0]) for _, cells in lines]
    pending = set(
        Invitation.objects.pending()
        .filter(_email_in(emails), company=company)
        .values_list("email", flat=True)
    )
    members = set(
        UserProfile.objects.filter(_email_in(emails), company=company).values_list("email", flat=True)
    )

    # One answer per role, not per row: a file has 20 000 rows and a handful of roles.
    grantable: dict[int, bool] = {}
    seen: dict[str, int] = {}
    rows: list[InvitationRow] = []
    for (number, cells), email in zip(lines, emails, strict=True):
        role_key = (cells[1] if len(cells) > 1 else "").upper()
        expiry_text = cells[2] if len(cells) > 2 else ""
        role = roles.get(role_key) if role_key else default_role
        expires_at = None
        problems: list[str] = []
        if len(cells) > 3 and any(cells[3:]):
            problems.append("too many columns (email, role, expiry)")
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"{cells[0][:80]!r} is not an email address")
        else:
            if len(email) > EMAIL_MAX_LENGTH:
                problems.append(f"the address is longer than {EMAIL_MAX_LENGTH} characters")
        if role is None:
            problems.append(f"no role {role_key!r} for {company}" if role_key else "no role given")
        elif actor is not None:
            if role.pk not in grantable:
                grantable[role.pk] = role_grantable_by(role=role, actor=actor)
            if not grantable[role.pk]:
                problems.append(role_grant_refusal(role))
        if expiry_text:
            try:
                expires_at = _parse_expiry(expiry_text)
            except ValueError as exc:
                problems.append(str(exc))
        if email in seen:
            problems.append(f"same email as line {seen[email]}")
        elif email in pending:
            problems.append("already has a pending invitation")
        elif email in members:
            problems.append("already a member")
        seen.setdefault(email, number)
        rows.append(
            InvitationRow(
                line=number,
                email=email,
                role_key=role.key if role else role_key,
                expires_at=expires_at,
                role=role,
                error="; ".join(problems),
            )
        )
    return rows


def invitation_bulk_create(
    *,
    company: Company,
    text: str,
    default_role: Role | None = None,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    send: bool = False,
    all_or_none: bool = True,
) -> BulkInvitationResult:
    """Create the invitations of a paste or CSV in one transaction.

    `all_or_none`: any bad row writes nothing. Otherwise the good rows are created and the
    bad ones reported. Rows are checked again here, so a dry run that went stale (another
    staff member invited the same person meanwhile) cannot half-write the import.

    Set-based: the rows are checked with a few queries for the whole file (invitation_rows_parse),
    expired open invitations of those emails are voided in one UPDATE and the new ones inserted
    with bulk_create, whatever the number of rows. The one-open-invitation-per-email constraint
    still decides a race: if a concurrent insert wins, the savepoint is rolled back, the file is
    checked again (the winner now shows as "already has a pending invitation") and the insert
    retried, so the database never holds half an import.
    """
    with transaction.atomic():
        rows = invitation_rows_parse(company=company, text=text, default_role=default_role, actor=created_by)
        for _attempt in range(BULK_INSERT_ATTEMPTS):
            if all_or_none and any(not row.ok for row in rows):
                return BulkInvitationResult(rows=rows, issued=[], written=False)
            good = [row for row in rows if row.ok]
            if not good:
                return BulkInvitationResult(rows=rows, issued=[], written=False)
            try:
                with transaction.atomic():
                    issued = _invitations_insert(company=company, rows=good, created_by=created_by, send=send)
            except IntegrityError:
                # Someone invited one of these people after our check: see who, and try again.
                rows = invitation_rows_parse(
                    company=company, text=text, default_role=default_role, actor=created_by
                )
                continue
            return BulkInvitationResult(rows=rows, issued=issued, written=True)
    raise ValidationError(
        "Other staff created invitations for the same people while this import ran; nothing was "
        "written. Run the dry run again."
    )


def _invitations_insert(
    *,
    company: Company,
    rows: list[InvitationRow],
    created_by: AbstractBaseUser | AnonymousUser | None,
    send: bool,
) -> list[IssuedInvitation]:
    """Void the expired open invitations of these rows' emails, then insert one per row."""
    from django.db.models.functions import Now

    # An expired invitation still counts as open for the unique constraint. Now() (the
    # database's clock) is the clock pending() used to call these rows free.
    Invitation.objects.open().filter(
        _email_in([row.email for row in rows]), company=company, expires_at__lte=Now()
    ).update(revoked_at=Now())
    now = timezone.now()
    default_expiry = _default_expiry()
    creator = cast("User | None", created_by if getattr(created_by, "pk", None) else None)
    codes = [invitation_code_generate() for _ in rows]
    invitations = [
        Invitation(
            company=company,
            email=row.email,
            role=row.role,
            code_hash=invitation_code_hash(code),
            expires_at=row.expires_at or default_expiry,
            created_by=creator,
            times_sent=1 if send else 0,
            last_sent_at=now if send else None,
        )
        for row, code in zip(rows, codes, strict=True)
    ]
    Invitation.objects.bulk_create(invitations, batch_size=BULK_INSERT_BATCH_SIZE)
    issued = [
        IssuedInvitation(invitation=inv, code=code) for inv, code in zip(invitations, codes, strict=True)
    ]
    if send:
        for item in issued:
            _invitation_email_enqueue(invitation=item.invitation, code=item.code)
    return issued


INVITATION_EXPORT_HEADER = [
    "email",
    "company",
    "role",
    "status",
    "created_at",
    "created_by",
    "expires_at",
    "times_sent",
    "last_sent_at",
    "accepted_at",
    "revoked_at",
]


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def invitations_export_rows(*, queryset: Any) -> Iterator[list[str]]:
    """The header and one row per invitation; never a code (only its hash exists)."""
    yield INVITATION_EXPORT_HEADER
    for inv in queryset.select_related("company", "role", "created_by").order_by("pk").iterator(2000):
        yield [
            csv_cell(v)
            for v in (
                inv.email,
                inv.company.slug,
                inv.role.key,
                inv.status.value,
                inv.created_at,
                inv.created_by.get_username() if inv.created_by else "",
                inv.expires_at,
                inv.times_sent,
                inv.last_sent_at,
                inv.accepted_at,
                inv.revoked_at,
            )
        ]


def invitation_create_cognito_user(
    *,
    company: Company,
    email: str,
    role: Role,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    expires_at: datetime | None = None,
) -> IssuedInvitation:
    """Invite by creating the Cognito user (AdminCreateUser), for pools without self sign-up.

    Cognito emails the temporary password itself, through the custom message trigger
    (cm_admin_create_user). The invitation is committed before the call, because Cognito
    runs pre sign-up (PreSignUp_AdminCreateUser) during it and that trigger must find it;
    call this outside a transaction. Post confirmation never runs for such users, so the
    profile is bound here at once: created on the returned sub, invitation accepted, and
    the role's Cognito group queued. If Cognito refuses, the invitation is revoked.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from outbox.aws import client
    from outbox.models import SideEffectKind
    from outbox.services import side_effect_enqueue

    if not settings.COGNITO_USER_POOL_ID:
        raise ValidationError("COGNITO_USER_POOL_ID is not set: Gatehouse cannot create Cognito users.")
    issued = invitation_create(
        company=company, email=email, role=role, created_by=created_by, expires_at=expires_at
    )
    invitation = issued.invitation
    try:
        response = client("cognito-idp").admin_create_user(
            UserPoolId=settings.COGNITO_USER_POOL_ID,
            Username=invitation.email,
            UserAttributes=[
                {"Name": "email", "Value": invitation.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            # No code in ClientMetadata: pre sign-up binds an admin-created user's invitation
            # by the operator-asserted email (invites.services.signup_evaluate).
            DesiredDeliveryMediums=["EMAIL"],
        )
    except (ClientError, BotoCoreError) as exc:
        invitation_revoke(invitation=invitation)
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
        message = {
            "UsernameExistsException": f"{invitation.email} already has a Cognito account.",
            "UserLambdaValidationException": "The pre sign-up trigger refused this user.",
        }.get(code, f"Cognito refused to create the user ({code}).")
        raise ValidationError({"email": message}) from exc
    user = response["User"]
    attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
    username = user["Username"]
    with transaction.atomic():
        profile, _ = UserProfile.objects.get_or_create(
            cognito_sub=attributes.get("sub") or username,
            defaults={"username": username, "email": invitation.email},
        )
        Invitation.objects.filter(pk=invitation.pk).update(reserved_for_username=username)
        invitation = invitation_accept(invitation=invitation, profile=profile)
        side_effect_enqueue(
            key=f"invitation:{invitation.pk}:cognito_group",
            kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
            payload={
                "user_pool_id": settings.COGNITO_USER_POOL_ID,
                "username": username,
                "group": role.group_name,
                "precedence": role.precedence,
            },
            profile=profile,
        )
    return IssuedInvitation(invitation=invitation, code=issued.code)


# --- Pre sign-up: who may sign up (added for the sign-up path, issue 3) ---------------------


class SignupRefused(InvitationError):
    """A sign-up rule was broken. Carries the company concerned and an internal detail for staff."""

    def __init__(
        self,
        reason: RefusalReason,
        message: str,
        *,
        invitation: Invitation | None = None,
        company: Company | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(reason, message, invitation)
        self.company = company or (invitation.company if invitation is not None else None)
        self.detail = detail

    @classmethod
    def from_invitation_error(cls, error: InvitationError, *, detail: str = "") -> SignupRefused:
        return cls(error.reason, error.message, invitation=error.invitation, detail=detail)


SIGNUP_MESSAGES: dict[RefusalReason, str] = {
    **USER_MESSAGES,
    RefusalReason.DOMAIN_NOT_ALLOWED: "Sign-up is not open to this email address's domain.",
    RefusalReason.EMPLOYEE_ID_INVALID: "A valid employee ID is required to sign up.",
    RefusalReason.RATE_LIMITED: "Too many sign-ups from your network. Please try again later.",
}

EMPLOYEE_ID_MAX_LENGTH = 64  # bounds the work a staff-written pattern can be made to do
SIGNUP_IP_WINDOW_SECONDS = 3600


class SignupKind:
    """How the user is being created: the rules differ (see docs/triggers.md)."""

    SELF = "self"  # PreSignUp_SignUp: the end user fills in a form
    ADMIN = "admin"  # PreSignUp_AdminCreateUser: an operator creates the user
    FEDERATED = "federated"  # PreSignUp_ExternalProvider: first sign-in through an identity provider


@dataclass(frozen=True, slots=True)
class SignupDecision:
    """What pre sign-up answers, and what it bound (for logs and tests)."""

    auto_confirm: bool
    auto_verify_email: bool
    company_id: int | None
    invitation_id: int | None


def _signup_refuse(
    reason: RefusalReason,
    *,
    invitation: Invitation | None = None,
    company: Company | None = None,
    detail: str = "",
) -> SignupRefused:
    return SignupRefused(
        reason, SIGNUP_MESSAGES[reason], invitation=invitation, company=company, detail=detail
    )


def _invitation_usable(*, invitation: Invitation, username: str) -> None:
    """The checks of invitation_check that remain for an invitation found by email, not by code."""
    if invitation.reserved_for_username and invitation.reserved_for_username != username:
        raise _signup_refuse(RefusalReason.INVITATION_USED, invitation=invitation)
    if not invitation.company.is_active:
        raise _signup_refuse(RefusalReason.COMPANY_SUSPENDED, invitation=invitation)
    if not company_has_free_seat(invitation.company):
        raise _signup_refuse(RefusalReason.COMPANY_FULL, invitation=invitation)


def signup_evaluate(
    *,
    kind: str,
    username: str,
    email: str,
    employee_id: str | None = None,
    invitation_code: str = "",
    ip_address: str = "",
) -> SignupDecision:
    """Decide a pre sign-up: raise SignupRefused, or bind the invitation and say what to confirm.

    Company and role are never taken from the request: only an invitation (by code, or for
    admin-created and federated users by email) or a company's domain rule can lead to a
    company, and that happens at onboarding (tenants.services.profile_onboard).
    """
    import re

    from invites.selectors import domain_rule_for, invitation_pending_for_email, signup_rules
    from tenants.services import rate_limit_hit

    rules = signup_rules()
    email = normalize_email(email)
    domain = email.rpartition("@")[2] if "@" in email else ""

    if ip_address and kind != SignupKind.ADMIN and rules.signups_per_ip_per_hour:
        allowed = rate_limit_hit(
            scope="signup_ip",
            key=ip_address,
            limit=rules.signups_per_ip_per_hour,
            window_seconds=SIGNUP_IP_WINDOW_SECONDS,
        )
        if not allowed:
            raise _signup_refuse(
                RefusalReason.RATE_LIMITED,
                detail=f"more than {rules.signups_per_ip_per_hour} sign-ups from one address in an hour",
            )

    rule = domain_rule_for(domain=domain)
    # A domain a company owns is always allowed; the global allowlist restricts the rest.
    if rules.domain_allowlist and domain not in rules.domain_allowlist and rule is None:
        raise _signup_refuse(
            RefusalReason.DOMAIN_NOT_ALLOWED, detail=f"domain {domain or '(no email)'!r} is not allowed"
        )

    # Self sign-up must carry the ID; an operator or an identity provider may leave it out,
    # but a value that is there must match.
    if rules.employee_id_pattern and (kind == SignupKind.SELF or employee_id is not None):
        value = employee_id or ""  # not stripped: Cognito stores the value as sent
        if (
            not value
            or len(value) > EMPLOYEE_ID_MAX_LENGTH
            or re.fullmatch(rules.employee_id_pattern, value) is None
        ):
            raise _signup_refuse(
                RefusalReason.EMPLOYEE_ID_INVALID,
                company=rule.company if rule else None,
                detail="employee ID missing" if not value else "employee ID does not match the pattern",
            )

    invitation: Invitation | None = None
    fallback_error: SignupRefused | None = None
    if invitation_code:
        try:
            invitation = invitation_check(code=invitation_code, email=email, username=username)
        except InvitationError as error:
            raise SignupRefused.from_invitation_error(error, detail="invitation code given") from error
    elif kind in (SignupKind.ADMIN, SignupKind.FEDERATED):
        # No form to type a code into: an invitation sent to this (operator- or
        # IdP-asserted) address is the one to bind.
        candidate = invitation_pending_for_email(email=email)
        if candidate is not None:
            try:
                _invitation_usable(invitation=candidate, username=username)
                invitation = candidate
            except SignupRefused as error:
                fallback_error = error

    joins_by_domain = rule is not None and rule.allow_join
    if invitation is None and kind != SignupKind.ADMIN and rules.invitation_required:
        if fallback_error is not None:
            raise fallback_error
        if not joins_by_domain:
            raise _signup_refuse(RefusalReason.INVITATION_REQUIRED)
        # The domain rule is what lets this user in: its company must be able to take them.
        assert rule is not None
        if not rule.company.is_active:
            raise _signup_refuse(RefusalReason.COMPANY_SUSPENDED, company=rule.company)
        if not company_has_free_seat(rule.company):
            raise _signup_refuse(RefusalReason.COMPANY_FULL, company=rule.company)

    if invitation is not None:
        try:
            invitation_reserve(invitation=invitation, username=username)
        except InvitationError as error:
            raise SignupRefused.from_invitation_error(error, detail="reserved by another user") from error

    # Cognito ignores these flags for AdminCreateUser; never send them there.
    auto_confirm = kind != SignupKind.ADMIN and (
        domain in rules.auto_confirm_domains
        or (rule is not None and rule.auto_confirm and rule.company.is_active)
    )
    company = (
        invitation.company
        if invitation is not None
        else (cast("DomainRule", rule).company if joins_by_domain else None)
    )
    return SignupDecision(
        auto_confirm=auto_confirm,
        auto_verify_email=auto_confirm and bool(domain),
        company_id=company.pk if company is not None else None,
        invitation_id=invitation.pk if invitation is not None else None,
    )
