"""Invitations by the thousand: parse a paste or CSV, check every row, insert set-based, export.

The checks and inserts are set-based (a handful of statements whatever the row count), so a
10,000-row file imports in seconds and a bad row is reported with its line before anything
is written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, CharField, F, Func, Q, Value
from django.db.models.functions import Now
from django.utils import timezone

from core.addresses import normalize_email
from invites.models import Invitation
from invites.services import (
    EMAIL_MAX_LENGTH,
    IssuedInvitation,
    default_expiry,
    invitation_code_generate,
    invitation_code_hash,
    invitation_email_enqueue,
)
from tenants.grants import role_grant_refusal, role_grantable_by, role_grantable_by_member
from tenants.models import Company, Membership, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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


def invitation_empty_lines(text: str) -> list[int]:
    """Numbers of the empty lines between rows, which the parse skips: staff are told, not left guessing.

    Blank lines after the last row (a trailing newline or two) are not worth a word.
    """
    numbers = [number for number, line in enumerate(text.splitlines(), start=1) if not line.strip(" \t,;")]
    last_row = max((number for number, _ in _csv_lines(text)), default=0)
    return [number for number in numbers if number < last_row]


class _EqualsAny(Func):
    """`column = ANY(%s)`: the list goes as one array parameter, where `__in` sends one per value."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def _email_in(emails: list[str], field: str = "email") -> Q:
    return Q(_EqualsAny(F(field), Value(emails, output_field=ArrayField(CharField()))))


def _member_grant_refusal(role: Role) -> str:
    return f"You cannot grant the role {role.key}: it carries permissions you do not hold."


def invitation_rows_parse(
    *,
    company: Company,
    text: str,
    default_role: Role | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    grantor_permissions: Sequence[str] | None = None,
) -> list[InvitationRow]:
    """Check every line of a paste or CSV (email, role key, optional expiry) without writing.

    A header line starting with "email" is skipped. A whole-input problem (empty, too many
    rows) raises ValidationError; a bad row is returned with its line number and reason.
    `actor` is the staff member inviting, as in invitation_validate: a row whose role they
    may not grant is a bad row. `grantor_permissions`, those of a member inviting through the
    tenant API, likewise (tenants.grants.role_grantable_by_member).
    """
    if default_role is not None and default_role.company_id not in (None, company.pk):
        raise ValidationError({"default_role": f"The role {default_role.key} belongs to another company."})
    if default_role and actor is not None and not role_grantable_by(role=default_role, actor=actor):
        raise ValidationError({"default_role": role_grant_refusal(default_role)})
    if (
        default_role
        and grantor_permissions is not None
        and not role_grantable_by_member(role=default_role, held=grantor_permissions)
    ):
        raise ValidationError({"default_role": _member_grant_refusal(default_role)})
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
        Membership.objects.current()
        .filter(_email_in(emails, "profile__email"), company=company)
        .values_list("profile__email", flat=True)
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
        elif grantor_permissions is not None and not role_grantable_by_member(
            role=role, held=grantor_permissions
        ):
            problems.append(_member_grant_refusal(role))
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
    grantor_permissions: Sequence[str] | None = None,
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
        rows = invitation_rows_parse(
            company=company,
            text=text,
            default_role=default_role,
            actor=created_by,
            grantor_permissions=grantor_permissions,
        )
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
                    company=company,
                    text=text,
                    default_role=default_role,
                    actor=created_by,
                    grantor_permissions=grantor_permissions,
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
    # An expired invitation still counts as open for the unique constraint. Now() (the
    # database's clock) is the clock pending() used to call these rows free.
    Invitation.objects.open().filter(
        _email_in([row.email for row in rows]), company=company, expires_at__lte=Now()
    ).update(revoked_at=Now())
    now = timezone.now()
    expiry_default = default_expiry()
    creator = cast("User | None", created_by if getattr(created_by, "pk", None) else None)
    codes = [invitation_code_generate() for _ in rows]
    invitations = [
        Invitation(
            company=company,
            email=row.email,
            role=row.role,
            code_hash=invitation_code_hash(code),
            expires_at=row.expires_at or expiry_default,
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
            invitation_email_enqueue(invitation=item.invitation, code=item.code)
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
