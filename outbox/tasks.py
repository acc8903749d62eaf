"""Django tasks that carry the outbox; the task backend is configured in settings.TASKS."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from outbox.models import SideEffect, SideEffectStatus
from outbox.runner import side_effect_attempt


@task()
def perform_side_effect(side_effect_id: int) -> str:
    """Attempt a side effect; while it is still pending, queue the next attempt at its time."""
    outcome = side_effect_attempt(side_effect_id)
    row = SideEffect.objects.filter(pk=side_effect_id).values("status", "next_attempt_at").first()
    if row and row["status"] == SideEffectStatus.PENDING:
        # Busy elsewhere (locked) or waiting for its backoff: come back then.
        run_after = max(row["next_attempt_at"], timezone.now() + timedelta(seconds=5))
        perform_side_effect.using(run_after=run_after).enqueue(side_effect_id=side_effect_id)
    return outcome
