"""Users of the system Gatehouse replaces: the CSV import, and their password check at migration.

Staff import the legacy users (email, names, password hash, company and role) from a
CSV file in the admin or with `manage.py import_legacy_users`. The Cognito user
migration trigger then checks a user's password against the imported hash with
Django's hashers and hands Cognito the user's attributes. Company and role are NOT
given here: post confirmation onboards the migrated user from this record, as it
would an invited one.

Hashes are kept in Django's format (algorithm$...). Formats Django reads as they are
(pbkdf2_sha256, argon2, bcrypt_sha256, bcrypt, salted md5) are stored unchanged; raw
bcrypt ($2b$...) and argon2 ($argon2id$...) strings are given Django's prefix; and
unsalted MD5 or SHA-1 hex digests, too weak to keep, are wrapped in salted PBKDF2 on
import (the "password upgrading without requiring a login" recipe in Django's docs),
so the weak digest itself is never stored.

Never log a password or a hash: rows are named by their line number, users by a
masked email.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import cast

from django.conf import settings
from django.contrib.auth.hashers import (
    UNUSABLE_PASSWORD_PREFIX,
    PBKDF2PasswordHasher,
    check_password,
    get_hashers_by_algorithm,
)
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from tenants.models import Company, LegacyUser, Role
from tenants.services import mask_email, normalize_email, rate_limit_hit

logger = logging.getLogger(__name__)


# --- Hashers for the weak formats the import wraps ------------------------------------


class _PBKDF2WrappedDigestHasher(PBKDF2PasswordHasher):
    """PBKDF2 over a legacy unsalted hex digest: verify(password) = pbkdf2(digest(password))."""

    inner_digest = "md5"
    # Lower than Django's default (1.5M) so that an import of thousands of rows finishes
    # in minutes; the wrapped value is still salted and slow, unlike the digest it hides.
    iterations = 50_000

    def inner(self, password: str) -> str:
        return hashlib.new(self.inner_digest, password.encode(), usedforsecurity=False).hexdigest()

    def encode_inner(self, inner_hex: str, salt: str, iterations: int | None = None) -> str:
        return super().encode(inner_hex.lower(), salt, iterations)

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return self.encode_inner(self.inner(password), salt, iterations)

    def matches_inner(self, inner_hex: str, encoded: str) -> bool:
        """Whether `encoded` wraps this digest (a re-import of the same legacy hash)."""
        decoded = self.decode(encoded)
        salt, iterations = cast(str, decoded["salt"]), cast(int, decoded["iterations"])
        return self.encode_inner(inner_hex, salt, iterations) == encoded


class PBKDF2WrappedMD5PasswordHasher(_PBKDF2WrappedDigestHasher):
    algorithm = "pbkdf2_wrapped_md5"
    inner_digest = "md5"


class PBKDF2WrappedSHA1PasswordHasher(_PBKDF2WrappedDigestHasher):
    algorithm = "pbkdf2_wrapped_sha1"
    inner_digest = "sha1"


# Ours are checked here rather than added to settings.PASSWORD_HASHERS, so that staff
# logins to the admin never accept them.
WRAPPED_HASHERS: dict[str, _PBKDF2WrappedDigestHasher] = {
    PBKDF2WrappedMD5PasswordHasher.algorithm: PBKDF2WrappedMD5PasswordHasher(),
    PBKDF2WrappedSHA1PasswordHasher.algorithm: PBKDF2WrappedSHA1PasswordHasher(),
}
# Django formats an import may store unchanged (must also be in settings.PASSWORD_HASHERS).
DJANGO_ALGORITHMS = frozenset(
    {"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt", "md5"}
)
HASH_FORMATS = ("django", "bcrypt", "argon2", "md5", "sha1")

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_RAW_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
_RAW_ARGON2 = re.compile(r"\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")


class HashFormatError(ValueError):
    """The legacy hash cannot be read; the message says why (never the hash)."""


@dataclass(frozen=True, slots=True)
class ConvertedHash:
    encoded: str  # what LegacyUser.password_hash stores
    source_format: str  # django, bcrypt, argon2, md5, sha1
    inner_digest: str = ""  # for wrapped formats: the legacy digest, to detect a re-import


def legacy_hash_detect(raw: str) -> str:
    """Guess the format of a legacy hash from its shape."""
    value = raw.strip()
    if _RAW_BCRYPT.fullmatch(value):
        return "bcrypt"
    if _RAW_ARGON2.fullmatch(value):
        return "argon2"
    if _HEX32.fullmatch(value) or (value.startswith("md5$$") and _HEX32.fullmatch(value[5:])):
        return "md5"
    if _HEX40.fullmatch(value) or (value.startswith("sha1$$") and _HEX40.fullmatch(value[6:])):
        return "sha1"
    return "django"


def legacy_hash_check(raw: str, hash_format: str = "") -> tuple[str, str]:
    """Validate a legacy hash without the cost of wrapping it: (format, digest for wrapped ones)."""
    value = (raw or "").strip()
    if not value:
        raise HashFormatError("the password hash is empty")
    fmt = (hash_format or "").strip().lower() or legacy_hash_detect(value)
    if fmt not in HASH_FORMATS:
        raise HashFormatError(f"unknown hash format {fmt[:20]!r} (use one of {', '.join(HASH_FORMATS)})")
    if fmt == "bcrypt":
        if not _RAW_BCRYPT.fullmatch(value) and not (
            value.startswith("bcrypt$") and _RAW_BCRYPT.fullmatch(value[7:])
        ):
            raise HashFormatError("not a bcrypt hash ($2a$, $2b$ or $2y$, cost and 53 characters)")
        return fmt, ""
    if fmt == "argon2":
        if not _RAW_ARGON2.fullmatch(value) and not (
            value.startswith("argon2$") and _RAW_ARGON2.fullmatch(value[6:])
        ):
            raise HashFormatError("not an argon2 hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
        return fmt, ""
    if fmt in ("md5", "sha1"):
        pattern, prefix = (_HEX32, "md5$$") if fmt == "md5" else (_HEX40, "sha1$$")
        digest = value[len(prefix) :] if value.startswith(prefix) else value
        if not pattern.fullmatch(digest):
            raise HashFormatError(f"not an unsalted {fmt} hex digest")
        return fmt, digest.lower()
    algorithm = value.partition("$")[0]
    if algorithm not in DJANGO_ALGORITHMS and algorithm not in WRAPPED_HASHERS:
        raise HashFormatError(f"unsupported algorithm {algorithm[:30]!r}")
    hasher = WRAPPED_HASHERS.get(algorithm) or get_hashers_by_algorithm().get(algorithm)
    if hasher is None:
        raise HashFormatError(f"the {algorithm} hasher is not installed")
    try:
        decoded = hasher.decode(value)
    except Exception as exc:  # each hasher fails its own way (ValueError, AssertionError)
        raise HashFormatError(f"not a valid {algorithm} hash") from exc
    if algorithm == "md5" and not decoded.get("salt"):
        raise HashFormatError("an md5 hash in Django's format needs a salt")
    return fmt, ""


def legacy_hash_convert(raw: str, hash_format: str = "") -> ConvertedHash:
    """The legacy hash in the Django format LegacyUser stores."""
    fmt, digest = legacy_hash_check(raw, hash_format)
    value = raw.strip()
    if fmt == "bcrypt":
        return ConvertedHash(value if value.startswith("bcrypt$") else f"bcrypt${value}", fmt)
    if fmt == "argon2":
        return ConvertedHash(value if value.startswith("argon2$") else f"argon2{value}", fmt)
    if fmt in ("md5", "sha1"):
        hasher = WRAPPED_HASHERS[f"pbkdf2_wrapped_{fmt}"]
        return ConvertedHash(hasher.encode_inner(digest, hasher.salt()), fmt, inner_digest=digest)
    return ConvertedHash(value, fmt)


def _spend_like_a_check(password: str) -> None:
    """Do the work of a password check that cannot succeed, so timing does not tell why it failed."""
    check_password(password or "", UNUSABLE_PASSWORD_PREFIX)


def legacy_password_check(password: str, encoded: str) -> bool:
    """Whether `password` matches a stored legacy hash; any unreadable hash is simply no match."""
    if not password or not encoded:
        _spend_like_a_check(password)
        return False
    algorithm = encoded.partition("$")[0]
    try:
        wrapped = WRAPPED_HASHERS.get(algorithm)
        if wrapped is not None:
            return wrapped.verify(password, encoded)
        return check_password(password, encoded)
    except (ValueError, TypeError, AssertionError):
        # bcrypt refuses passwords over 72 bytes; a damaged row must not become a 500.
        return False


# --- The user migration trigger --------------------------------------------------------


class LegacyLoginError(Exception):
    """Why a legacy user cannot be migrated; `public_message` is what Cognito may show."""

    def __init__(self, public_message: str, *, reason: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.reason = reason


# What Cognito's own example answers: one message for a wrong password and an unknown
# user at sign-in, so that the sign-in form does not reveal who has a legacy account.
BAD_PASSWORD = "Bad password"  # noqa: S105 (a message, not a password)
USER_NOT_FOUND = "User not found"
TOO_MANY_ATTEMPTS = "Too many attempts. Try again later."


@dataclass(frozen=True, slots=True)
class LegacyIdentity:
    email: str
    given_name: str
    family_name: str

    def cognito_attributes(self) -> dict[str, str]:
        """The attributes Cognito creates the user with (no company or role: onboarding gives those)."""
        attributes = {"email": self.email, "email_verified": "true"}
        if self.given_name:
            attributes["given_name"] = self.given_name
        if self.family_name:
            attributes["family_name"] = self.family_name
        return attributes


def _legacy_user_for(username: str) -> LegacyUser | None:
    email = normalize_email(username)
    if "@" not in email:
        return None
    # A record already migrated is spent: a deleted Cognito user does not come back
    # with the old password.
    return (
        LegacyUser.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email, migrated_at__isnull=True)
        .only("email", "given_name", "family_name", "password_hash")
        .first()
    )


def _attempt_allowed(username: str) -> bool:
    return rate_limit_hit(
        scope="user_migration",
        key=normalize_email(username),
        limit=settings.LEGACY_LOGIN_ATTEMPTS_PER_WINDOW,
        window_seconds=settings.LEGACY_LOGIN_WINDOW_SECONDS,
    )


def legacy_user_authenticate(*, username: str, password: str) -> LegacyIdentity:
    """Check a legacy user's password at their first Cognito sign-in (UserMigration_Authentication).

    Every attempt counts against the per-user limit, before the password is looked at,
    so a locked-out guesser learns nothing more.
    """
    if not _attempt_allowed(username):
        logger.warning("legacy sign-in rate limited", extra={"user": mask_email(username)})
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        _spend_like_a_check(password)
        raise LegacyLoginError(BAD_PASSWORD, reason="user_not_found")
    if not legacy_password_check(password, legacy.password_hash):
        raise LegacyLoginError(BAD_PASSWORD, reason="bad_password")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)


def legacy_user_lookup(*, username: str) -> LegacyIdentity:
    """A legacy user who forgot their password (UserMigration_ForgotPassword): no password check.

    Cognito then emails a reset code to the verified address we return, so only the
    owner of the mailbox can go on.
    """
    if not _attempt_allowed(username):
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        raise LegacyLoginError(USER_NOT_FOUND, reason="user_not_found")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)


# --- The CSV import ----------------------------------------------------------------------

REQUIRED_COLUMNS = ("email", "given_name", "family_name", "password_hash", "company", "role")
OPTIONAL_COLUMNS = ("hash_format",)
MAX_ROWS = 50_000


class Outcome:
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # already migrated: the record is spent, not overwritten
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LegacyImportRow:
    line: int
    email: str  # masked: reports are shown and logged
    outcome: str
    reasons: tuple[str, ...] = ()
    hash_format: str = ""

    @property
    def is_error(self) -> bool:
        return self.outcome == Outcome.ERROR


@dataclass(frozen=True, slots=True)
class LegacyImportReport:
    rows: tuple[LegacyImportRow, ...]
    dry_run: bool
    all_or_nothing: bool
    written: bool  # whether anything was saved
    file_errors: tuple[str, ...] = ()  # the file as a whole could not be read

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def errors(self) -> tuple[LegacyImportRow, ...]:
        return tuple(row for row in self.rows if row.is_error)

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.errors

    def summary(self) -> str:
        if self.file_errors:
            return "Nothing imported: " + "; ".join(self.file_errors)
        counts = ", ".join(
            f"{self.count(o)} {o}"
            for o in (Outcome.CREATE, Outcome.UPDATE, Outcome.UNCHANGED, Outcome.SKIPPED, Outcome.ERROR)
        )
        if self.dry_run:
            verdict = "Dry run, nothing saved"
        elif self.written:
            verdict = "Imported"
        else:
            verdict = "Nothing saved"
        return f"{verdict}: {counts}."


@dataclass
class _Planned:
    line: int
    email: str
    given_name: str
    family_name: str
    raw_hash: str
    hash_format: str
    company: Company | None
    role: Role | None
    existing: LegacyUser | None = None
    outcome: str = Outcome.CREATE
    reasons: list[str] = field(default_factory=list)


def _read_csv(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    if text.startswith("\ufeff"):  # spreadsheets save UTF-8 with a byte-order mark
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        return [], [f"missing column(s): {', '.join(missing)} (header: {', '.join(REQUIRED_COLUMNS)})"]
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        return [], [f"unknown column(s): {', '.join(unknown)[:200]}"]
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for record in reader:
            if len(rows) >= MAX_ROWS:
                return [], [f"more than {MAX_ROWS} rows: split the file"]
            if None in record:
                rows.append((reader.line_num, {"__error__": "more fields than columns"}))
                continue
            values = {key: (value or "").strip() for key, value in record.items()}
            if not any(values.values()):
                continue  # blank line
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        return [], [f"line {reader.line_num}: {exc}"]
    return rows, []


def _plan(rows: list[tuple[int, dict[str, str]]]) -> list[_Planned]:
    slugs = {values.get("company", "") for _, values in rows} - {""}
    companies = {company.slug: company for company in Company.objects.filter(slug__in=slugs)}
    roles: dict[tuple[int | None, str], Role] = {}
    for role in Role.objects.filter(Q(company__isnull=True) | Q(company__in=list(companies.values()))):
        roles[(role.company_id, role.key)] = role
    emails = {normalize_email(values.get("email", "")) for _, values in rows}
    existing = {
        legacy.email_lower: legacy
        for legacy in LegacyUser.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
    }

    planned: list[_Planned] = []
    seen: dict[str, int] = {}
    for line, values in rows:
        email = normalize_email(values.get("email", ""))
        item = _Planned(
            line=line,
            email=email,
            given_name=values.get("given_name", ""),
            family_name=values.get("family_name", ""),
            raw_hash=values.get("password_hash", ""),
            hash_format=values.get("hash_format", ""),
            company=None,
            role=None,
        )
        planned.append(item)
        if "__error__" in values:
            item.reasons.append(values["__error__"])
            item.outcome = Outcome.ERROR
            continue
        try:
            validate_email(email)
        except ValidationError:
            item.reasons.append("email is not a valid address")
        else:
            if email in seen:
                item.reasons.append(f"email already on line {seen[email]}")
            else:
                seen[email] = line
        for name in ("given_name", "family_name"):
            if len(getattr(item, name)) > 100:
                item.reasons.append(f"{name} is longer than 100 characters")
        if len(email) > 254:
            item.reasons.append("email is longer than 254 characters")
        if any("\x00" in value for value in values.values()):
            # Postgres text cannot hold NUL: report the row instead of failing the whole import.
            item.reasons.append("a field contains a NUL character")
        try:
            item.hash_format, _ = legacy_hash_check(item.raw_hash, item.hash_format)
        except HashFormatError as exc:
            item.reasons.append(str(exc))
        slug, role_key = values.get("company", ""), values.get("role", "").upper()
        if slug:
            item.company = companies.get(slug)
            if item.company is None:
                item.reasons.append(f"no company with slug {slug[:80]!r}")
        if role_key:
            if not slug:
                item.reasons.append("a role needs a company")
            elif item.company is not None:
                item.role = roles.get((item.company.pk, role_key)) or roles.get((None, role_key))
                if item.role is None:
                    item.reasons.append(f"no role {role_key[:64]!r} for company {slug[:80]!r}")
        item.existing = existing.get(email)
        if item.reasons:
            item.outcome = Outcome.ERROR
        elif item.existing is not None:
            item.outcome = Outcome.SKIPPED if item.existing.migrated_at else Outcome.UPDATE
    return planned


def _same_hash(item: _Planned, stored: str) -> bool:
    """Whether the stored hash already is this row's legacy hash (wrapped ones carry a new salt)."""
    fmt, digest = legacy_hash_check(item.raw_hash, item.hash_format)
    if digest:
        hasher = WRAPPED_HASHERS[f"pbkdf2_wrapped_{fmt}"]
        try:
            return stored.startswith(cast(str, hasher.algorithm) + "$") and hasher.matches_inner(
                digest, stored
            )
        except (ValueError, AssertionError):
            return False
    return legacy_hash_convert(item.raw_hash, item.hash_format).encoded == stored


def _apply(planned: list[_Planned]) -> dict[int, str]:
    """Write the planned rows; returns the final outcome per line (an update may be unchanged)."""
    outcomes: dict[int, str] = {}
    to_create: list[LegacyUser] = []
    for item in planned:
        if item.outcome == Outcome.CREATE:
            to_create.append(
                LegacyUser(
                    email=item.email,
                    given_name=item.given_name,
                    family_name=item.family_name,
                    password_hash=legacy_hash_convert(item.raw_hash, item.hash_format).encoded,
                    company=item.company,
                    role=item.role,
                )
            )
            outcomes[item.line] = Outcome.CREATE
        elif item.outcome == Outcome.UPDATE:
            legacy = item.existing
            assert legacy is not None
            same_hash = _same_hash(item, legacy.password_hash)
            changed = not same_hash or (
                (legacy.given_name, legacy.family_name, legacy.company_id, legacy.role_id)
                != (
                    item.given_name,
                    item.family_name,
                    getattr(item.company, "pk", None),
                    getattr(item.role, "pk", None),
                )
            )
            if not changed:
                outcomes[item.line] = Outcome.UNCHANGED
                continue
            legacy.given_name, legacy.family_name = item.given_name, item.family_name
            legacy.company, legacy.role = item.company, item.role
            if not same_hash:
                legacy.password_hash = legacy_hash_convert(item.raw_hash, item.hash_format).encoded
            legacy.save(update_fields=["given_name", "family_name", "company", "role", "password_hash"])
            outcomes[item.line] = Outcome.UPDATE
    LegacyUser.objects.bulk_create(to_create, batch_size=500)
    return outcomes


def legacy_users_import(
    *, text: str, dry_run: bool = False, all_or_nothing: bool = False
) -> LegacyImportReport:
    """Import legacy users from CSV text: every row validated, good rows written in one transaction.

    Columns: email, given_name, family_name, password_hash, company (slug, may be empty),
    role (key, needs a company), and optionally hash_format (django, bcrypt, argon2, md5,
    sha1; guessed from the hash when empty). An email already imported is updated,
    unless that user has migrated already (skipped: the record is spent). With
    `all_or_nothing`, one bad row means nothing is written; otherwise the good rows are.
    A dry run reports what would happen and writes nothing.
    """
    rows, file_errors = _read_csv(text)
    if file_errors:
        return LegacyImportReport((), dry_run, all_or_nothing, written=False, file_errors=tuple(file_errors))
    planned = _plan(rows)
    has_errors = any(item.outcome == Outcome.ERROR for item in planned)
    write = not dry_run and not (all_or_nothing and has_errors)
    outcomes: dict[int, str] = {}
    if write:
        with transaction.atomic():
            outcomes = _apply(planned)
    report_rows = tuple(
        LegacyImportRow(
            line=item.line,
            email=mask_email(item.email) if item.email else "",
            outcome=outcomes.get(item.line, item.outcome),
            reasons=tuple(item.reasons),
            hash_format=item.hash_format if item.outcome != Outcome.ERROR else "",
        )
        for item in planned
    )
    report = LegacyImportReport(
        report_rows,
        dry_run,
        all_or_nothing,
        written=write and any(r.outcome in (Outcome.CREATE, Outcome.UPDATE) for r in report_rows),
    )
    logger.info(
        "legacy users import",
        extra={
            "dry_run": dry_run,
            "all_or_nothing": all_or_nothing,
            "rows_created": report.count(Outcome.CREATE),
            "rows_updated": report.count(Outcome.UPDATE),
            "rows_bad": report.count(Outcome.ERROR),
        },
    )
    return report
