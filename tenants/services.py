"""Writes and workflows for companies and people, shared by the admin, triggers and commands."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tenants.emails import RenderedEmail, TemplateProblem, default_source, render_source
from tenants.models import Company, RateLimitCounter, UserProfile
from tenants.selectors import company_email_context, email_template_source

logger = logging.getLogger(__name__)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def mask_email(email: str) -> str:
    """a***@acme.com: enough for a user to recognise, not enough to leak the address."""
    local, _, domain = normalize_email(email).partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def stable_hash(value: str) -> str:
    """A keyed hash for rate-limit keys and logs, so no address or email is stored plainly."""
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()


def email_render(
    *,
    key: str,
    language: str = "en",
    company: Company | None = None,
    context: dict[str, Any],
) -> RenderedEmail:
    """Render the most specific template; fall back to the default when staff's edit is broken.

    A broken template must never block a sign-up: the default files are always valid
    (tests render every one), and the reason for the fallback is logged.
    """
    full_context = {
        "company": company_email_context(company),
        "app_url": settings.APP_URL,
        **context,
    }
    source = email_template_source(key=key, language=language, company=company)
    try:
        return render_source(source, full_context)
    except TemplateProblem as problem:
        if source.origin == "default":
            raise
        logger.warning(
            "email template failed, using the default",
            extra={"template_key": key, "origin": source.origin, "problem": str(problem)},
        )
        return render_source(default_source(key, language), full_context)


def user_email_context(profile: UserProfile | None, **fallback: str) -> dict[str, str]:
    if profile is None:
        return {
            "given_name": fallback.get("given_name", ""),
            "family_name": fallback.get("family_name", ""),
            "email": fallback.get("email", ""),
        }
    return {
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "email": profile.email,
    }


# One statement, so concurrent hits serialize on the row instead of racing a read.
_RATE_LIMIT_UPSERT = """
    INSERT INTO tenants_ratelimitcounter (scope, key, window_start, count) VALUES (%s, %s, %s, 1)
    ON CONFLICT (scope, key, window_start)
    DO UPDATE SET count = tenants_ratelimitcounter.count + 1
    RETURNING count
"""


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit in a fixed window; True while the count stays within the limit.

    One atomic upsert, so concurrent callers cannot both slip under the limit.
    """
    if limit <= 0:
        return True
    now = timezone.now()
    window_start = datetime.fromtimestamp(now.timestamp() - now.timestamp() % window_seconds, tz=now.tzinfo)
    with connection.cursor() as cursor:
        cursor.execute(_RATE_LIMIT_UPSERT, [scope, stable_hash(key), window_start])
        (count,) = cursor.fetchone()
    return count <= limit


def rate_limit_prune(*, older_than: timedelta = timedelta(days=2)) -> int:
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
