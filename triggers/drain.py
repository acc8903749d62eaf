"""Lambda entry point for the scheduled drain of the side-effect queue (EventBridge schedule).

Runs due side effects (outbox.runner.side_effects_drain) until none is left or the
function's time is nearly spent: what a trigger could not finish inline, and anything SQS
or a task lost. It stops starting new effects when the remaining time gets short, so a run
never ends mid-effect by timeout. Then, with the time left, it scrubs waiting effects whose
code expired and deletes what the retention settings no longer keep (login codes,
rate-limit windows, activity events, refusals, finished side effects, task results), each
in short batches by id range that hold no lock the triggers would wait on.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import django
from django.apps import apps

# The trigger function's lean settings: no admin, no sessions; boto3 loads on first effect.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    django.setup()

from django.db import close_old_connections

from accounts.passwordless import login_codes_prune
from invites.retention import signup_refusals_prune
from outbox.runner import (
    side_effects_drain,
    side_effects_prune_finished,
    side_effects_scrub_expired,
    task_results_prune,
)
from tenants.ratelimit import rate_limit_prune
from tenants.retention import activity_events_prune

logger = logging.getLogger("gatehouse.outbox.drain")

# Seconds kept back from the function's timeout for the last effect (each is bounded by
# SIDE_EFFECT_TIMEOUT_SECONDS) and for logging.
SAFETY_SECONDS = 10.0
# Of the time left, the share the side effects may use; the prunes get the rest (and
# whatever the effects did not need).
SIDE_EFFECT_SHARE = 0.8


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Drain due side effects, then prune; `event` may carry {"limit": N} (the schedule sends none)."""
    limit = None
    if isinstance(event, dict) and isinstance(event.get("limit"), int) and event["limit"] > 0:
        limit = event["limit"]
    budget = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = max(context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS, 0.0)
    started = time.monotonic()
    deadline = None if budget is None else started + budget
    close_old_connections()
    try:
        effects_budget = None if budget is None else budget * SIDE_EFFECT_SHARE
        counts = side_effects_drain(limit=limit, time_budget=effects_budget)
        pruned = {
            # Emails whose code expired before SES took them: bodies dropped, given up.
            "expired_side_effects": side_effects_scrub_expired(),
            "login_codes": login_codes_prune(deadline=deadline),
            "rate_limit_windows": rate_limit_prune(deadline=deadline),
            "activity_events": activity_events_prune(deadline=deadline),
            "signup_refusals": signup_refusals_prune(deadline=deadline),
            "finished_side_effects": side_effects_prune_finished(deadline=deadline),
            "task_results": task_results_prune(deadline=deadline),
        }
    finally:
        close_old_connections()
    logger.info("side effects drained", extra={"counts": counts, "limit": limit, "pruned": pruned})
    return {"counts": counts, "pruned": pruned}
