"""How long tenants keep their analytics: the drain's prune of activity events."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.db import delete_old_by_id_ranges
from tenants.models import ActivityEvent


def activity_events_prune(*, deadline: float | None = None) -> int:
    """Delete activity events older than ACTIVITY_RETENTION_DAYS, by id ranges."""
    return delete_old_by_id_ranges(
        ActivityEvent.objects.all(),
        time_field="created_at",
        cutoff=timezone.now() - timedelta(days=settings.ACTIVITY_RETENTION_DAYS),
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )
