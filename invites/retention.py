"""How long refusals are kept: the drain's prune of SignupRefusal rows."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.db import delete_old_by_id_ranges
from invites.models import SignupRefusal


def signup_refusals_prune(*, deadline: float | None = None) -> int:
    """Delete refusals older than REFUSAL_RETENTION_DAYS, by id ranges."""
    return delete_old_by_id_ranges(
        SignupRefusal.objects.all(),
        time_field="created_at",
        cutoff=timezone.now() - timedelta(days=settings.REFUSAL_RETENTION_DAYS),
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )
