"""The admin at scale: changelist, search and change page of each of our models, small vs large.

Run by bench/run.py in a child process with backoffice.settings (test mode, DEBUG off) on
the bench database, which must hold the small batch (prefix "a") already. The pages are
timed on it, then the loader adds the large batch (prefix "b") and the same pages (same
search term, same object) are timed again: the row shows the large dataset as
"Gatehouse" and the small one as its baseline, with both query counts, which must match.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.common import BENCH_DB, Row, Stats, django_setup, emit, psycopg_conninfo

OUR_APPS = ("tenants", "invites", "outbox")
SEARCH_TERM = "a17"  # matches names, slugs, emails and keys of the first batch
PAGE_TARGET_MS = 300.0


@dataclass
class Page:
    label: str
    url: str


@dataclass
class Measured:
    stats: Stats
    queries: int
    status: int
    size: int


def pages() -> list[Page]:
    from django.contrib import admin
    from django.urls import reverse

    result = []
    for model, _model_admin in sorted(
        admin.site._registry.items(), key=lambda item: (item[0]._meta.app_label, item[0]._meta.model_name)
    ):
        opts = model._meta
        if opts.app_label not in OUR_APPS:
            continue
        name = f"{opts.app_label}.{opts.model_name}"
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        result.append(Page(f"{name} changelist", changelist))
        if _model_admin.search_fields:
            result.append(Page(f"{name} search", f"{changelist}?q={SEARCH_TERM}"))
        first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        if first is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first])
            result.append(Page(f"{name} change", change))
    return result


def staff_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "bench-admin@example.com", None)
    client = Client()
    client.force_login(user)
    # Past the admin's second factor (backoffice/otp.py), as a staff member after a good code:
    # without it every page answers 302 to the verification step and nothing is measured.
    import django_otp
    from django.http import HttpRequest
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    request = HttpRequest()
    request.session = client.session
    request.user = user
    django_otp.login(request, device)
    request.session.save()
    return client


def measure(client: Any, page: Page, *, runs: int, warmup: int = 2) -> Measured:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(page.url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page.url)
    # captured_queries reads the live log lazily, and the next request resets it: count now.
    queries = len(captured.captured_queries)
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        client.get(page.url)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return Measured(
        stats=Stats.of(samples),
        queries=queries,
        status=response.status_code,
        size=len(response.content),
    )


def measure_all(client: Any, the_pages: list[Page], runs: int) -> dict[str, Measured]:
    return {page.label: measure(client, page, runs=runs) for page in the_pages}


def bulk_import(*, rows: int, chunk: int) -> Row:
    """Import invitations from CSV through invites.bulk.invitation_bulk_create, chunk by chunk."""
    from django.db import connection

    from invites import bulk as services
    from tenants.models import Company, Role

    company = Company.objects.create(name="Bulk Import Ltd", slug=f"bulk-import-{time.time_ns()}")
    role = Role.objects.get(key="USER", company__isnull=True)
    texts = []
    for start in range(0, rows, chunk):
        lines = ["email,role"] + [
            f"bulk{i}@import{company.pk}.example.com,USER" for i in range(start, min(rows, start + chunk))
        ]
        texts.append("\n".join(lines))
    started = time.perf_counter()
    created = 0
    counted = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[0] += 1
        return execute(sql, params, many, context)

    # An execute wrapper counts every statement without the debug log's 9,000-entry cap.
    with connection.execute_wrapper(count):
        for text in texts:
            result = services.invitation_bulk_create(company=company, text=text, default_role=role)
            if not result.written:
                raise RuntimeError(f"bulk import refused the CSV: {result.bad_rows[:3]}")
            created += len(result.issued)
    seconds = time.perf_counter() - started
    assert created == rows, (created, rows)
    how = (
        f"invites.bulk.invitation_bulk_create, {len(texts)} CSV chunk(s) of {chunk:,} "
        f"(its BULK_INVITATION_MAX_ROWS is {services.BULK_INVITATION_MAX_ROWS:,})"
    )
    return Row(
        section="admin",
        name=f"bulk import {rows:,} invitations from CSV",
        gatehouse=Stats(n=1, median_ms=seconds * 1000, p99_ms=seconds * 1000, mean_ms=seconds * 1000),
        queries=f"{counted[0]:,} total ({counted[0] / rows:.1f}/row)",
        target="< 10 s",
        ok=seconds < 10,
        note=how,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the large batch")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", default=BENCH_DB)
    parser.add_argument("--bulk-rows", type=int, default=10_000)
    parser.add_argument("--no-large", action="store_true", help="measure the small dataset only")
    args = parser.parse_args(argv)
    django_setup()
    from django.db import connections

    from bench import loader
    from tenants.models import Company, UserProfile

    client = staff_client()
    the_pages = pages()
    small_counts = (Company.objects.count(), UserProfile.objects.count())
    small = measure_all(client, the_pages, args.runs)
    large: dict[str, Measured] = {}
    large_counts = small_counts
    load_note = ""
    if not args.no_large:
        connections.close_all()
        loaded = loader.load(psycopg_conninfo(args.db), scale=args.scale, prefix="b")
        load_note = f"loaded {sum(loaded.counts.values()):,} rows in {loaded.seconds:.1f} s"
        large_counts = (Company.objects.count(), UserProfile.objects.count())
        large = measure_all(client, the_pages, args.runs)
        emit(
            Row(
                section="admin",
                name="bulk loader (COPY), large batch",
                gatehouse=Stats(1, loaded.seconds * 1000, loaded.seconds * 1000, loaded.seconds * 1000),
                note=load_note + f"; now {large_counts[0]:,} companies, {large_counts[1]:,} profiles",
            )
        )
    for page in the_pages:
        s = small[page.label]
        big = large.get(page.label)
        shown = big or s
        statuses = {s.status} | ({big.status} if big else set())
        same_queries = big is None or big.queries == s.queries
        ok = shown.stats.median_ms < PAGE_TARGET_MS and same_queries and statuses == {200}
        note = []
        if statuses != {200}:
            note.append(f"HTTP {sorted(statuses)}")
        if not same_queries:
            note.append("query count grows with rows")
        emit(
            Row(
                section="admin",
                name=page.label,
                gatehouse=shown.stats,
                baseline=s.stats if big else None,
                baseline_name=f"same page, {small_counts[0]:,} companies" if big else "",
                queries=f"{big.queries} (small: {s.queries})" if big else str(s.queries),
                target="< 300 ms, queries flat",
                ok=ok,
                note="; ".join(note),
                extra={"url": page.url},
            )
        )
    if args.bulk_rows:
        from invites import bulk

        # As staff would: the whole CSV in as few requests as the service's row cap allows.
        cap = bulk.BULK_INVITATION_MAX_ROWS
        emit(bulk_import(rows=args.bulk_rows, chunk=min(args.bulk_rows, cap)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
