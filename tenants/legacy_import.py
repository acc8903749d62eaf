"""Import the users of the system Gatehouse replaces from a CSV file (admin or management command).

Staff import the legacy users (email, names, password hash, company and role); each row's
outcome comes from a dry run first, and an all-or-nothing choice decides what is written.
Never log a password or a hash: rows are named by their line number.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, field
from typing import cast

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, F, Func, Min, Q, Value
from django.db.models.functions import Lower

from core.addresses import mask_email, normalize_email
from tenants.legacy_hashes import (
    WRAPPED_HASHERS,
    HashFormatError,
    legacy_hash_check,
    legacy_hash_convert,
    legacy_password_check,
)
from tenants.models import Company, LegacyHashCost, LegacyUser, Role

logger = logging.getLogger(__name__)


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


MEASURE_PASSWORD = "not-the-password-0"  # noqa: S105 (checked against real hashes, never matches)


def legacy_hash_cost_measure() -> LegacyHashCost:
    """Time one check per hash format still waiting to migrate; store the slowest (pk=1).

    One sample hash per format (its algorithm prefix), the slowest of three checks: a target
    measured low (a quiet moment) would let the slowest format show through the padding,
    one measured high only costs time. The answer padding of tenants.legacy uses it.
    """
    samples = (
        LegacyUser.objects.filter(migrated_at__isnull=True)
        .annotate(
            algorithm=Func(
                F("password_hash"), Value("$"), Value(1), function="split_part", output_field=CharField()
            )
        )
        .values("algorithm")
        .annotate(sample=Min("password_hash"))
        .order_by()
    )
    slowest, seconds = "", 0.0
    for row in samples:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            legacy_password_check(MEASURE_PASSWORD, row["sample"])
            timings.append(time.perf_counter() - started)
        if max(timings) > seconds:
            slowest, seconds = row["algorithm"], max(timings)
    cost, _ = LegacyHashCost.objects.update_or_create(
        pk=1, defaults={"slowest_format": slowest[:64], "seconds": seconds}
    )
    return cost


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
        legacy_hash_cost_measure()
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
