"""Fixed-window rate limits counted in Postgres, and the keyed hash that names their keys.

Sign-ups per address, login codes per user and legacy-password attempts all count here:
one atomic upsert per hit, so concurrent callers cannot both slip under a limit, and the
key is stored only as a keyed hash (no address or email in clear).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.db import delete_old_by_id_ranges
from tenants.models import RateLimitCounter


def stable_hash(value: str) -> str:
    """A keyed hash for rate-limit keys and logs, so no address or email is stored plainly."""
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()


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
    return bool(count <= limit)


def rate_limit_prune(*, older_than: timedelta | None = None, deadline: float | None = None) -> int:
    """Delete windows that closed RATE_LIMIT_RETENTION_DAYS ago, by id ranges (rate_limit_window_start)."""
    age = older_than if older_than is not None else timedelta(days=settings.RATE_LIMIT_RETENTION_DAYS)
    return delete_old_by_id_ranges(
        RateLimitCounter.objects.all(),
        time_field="window_start",
        cutoff=timezone.now() - age,
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )
