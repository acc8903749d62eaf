"""Import legacy users from a CSV file (see `--help`; the service is tenants.legacy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.legacy_import import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, legacy_users_import


class Command(BaseCommand):
    help = (
        "Import users of the legacy system (columns: "
        + ", ".join(REQUIRED_COLUMNS)
        + ", optional "
        + ", ".join(OPTIONAL_COLUMNS)
        + "). Good rows are written in one transaction; bad rows are listed with their line "
        "number and reason, and make the command fail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file, UTF-8, with a header row.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")
        parser.add_argument(
            "--all-or-nothing", action="store_true", help="Write nothing when any row is bad."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        report = legacy_users_import(
            text=text, dry_run=options["dry_run"], all_or_nothing=options["all_or_nothing"]
        )
        if report.file_errors:
            raise CommandError(report.summary())
        verbose = options["verbosity"] >= 2
        for row in report.rows:
            if row.is_error:
                self.stderr.write(f"line {row.line}: {row.email or '(no email)'}: {'; '.join(row.reasons)}")
            elif verbose:
                self.stdout.write(f"line {row.line}: {row.email}: {row.outcome} ({row.hash_format})")
        if report.errors:
            raise CommandError(f"{report.summary()} Fix the {len(report.errors)} bad row(s) above.")
        self.stdout.write(self.style.SUCCESS(report.summary()))
