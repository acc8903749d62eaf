"""Lambda entry point for the scheduled drain of the side-effect queue (EventBridge schedule).

Runs every due side effect once (outbox.runner.side_effects_drain): what a trigger could
not finish inline, and anything whose task was lost. It stops starting new effects when
the function's remaining time gets short, so a run never ends mid-effect by timeout.
It scrubs waiting effects whose code expired (outbox.runner.side_effects_scrub_expired), and
deletes what no longer proves anything: login codes and rate-limit windows that
expired days ago (two indexed or small-table deletes).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import django
from django.apps import apps

# The trigger function's lean settings: no admin, no sessions; boto3 loads on first effect.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    django.setup()

from django.db import close_old_connections

from accounts.passwordless import login_codes_prune
from outbox.runner import side_effects_drain, side_effects_scrub_expired
from tenants.ratelimit import rate_limit_prune

logger = logging.getLogger("gatehouse.outbox.drain")

# Seconds kept back from the function's timeout for the last effect (each is bounded by
# SIDE_EFFECT_TIMEOUT_SECONDS) and for logging.
SAFETY_SECONDS = 10.0
DEFAULT_LIMIT = 200


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Drain due side effects; `event` may carry {"limit": N} (the schedule sends none)."""
    limit = DEFAULT_LIMIT
    if isinstance(event, dict) and isinstance(event.get("limit"), int) and event["limit"] > 0:
        limit = min(event["limit"], 1000)
    budget = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = max(context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS, 0.0)
    close_old_connections()
    try:
        counts = side_effects_drain(limit=limit, time_budget=budget)
        pruned = {
            "login_codes": login_codes_prune(),
            "rate_limit_windows": rate_limit_prune(),
            # Emails whose code expired before SES took them: bodies dropped, given up.
            "expired_side_effects": side_effects_scrub_expired(),
        }
    finally:
        close_old_connections()
    logger.info("side effects drained", extra={"counts": counts, "limit": limit, "pruned": pruned})
    return {"counts": counts, "pruned": pruned}
