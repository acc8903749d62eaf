"""Running side effects: one attempt under a row lock, the inline budget, the drain, backoff.

The task worker (outbox.tasks), the inline attempt after a trigger's commit and the
scheduled drain all come through side_effect_attempt, which locks the row (SKIP LOCKED) so
no effect runs twice at once, and a done effect never runs again.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbox.executors import EXECUTORS
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus

logger = logging.getLogger(__name__)

# Monotonic deadline for inline attempts in the current invocation (None: no budget).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("side_effect_deadline", default=None)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


@contextmanager
def inline_budget(seconds: float | None = None) -> Iterator[None]:
    """Inline attempts started inside this block stop once `seconds` have passed."""
    budget = settings.SIDE_EFFECT_INLINE_BUDGET_SECONDS if seconds is None else seconds
    token = _deadline.set(time.monotonic() + budget)
    try:
        yield
    finally:
        _deadline.reset(token)


def _budget_left() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def backoff_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def side_effect_run_inline(pk: int) -> str:
    """Try a side effect now if the invocation's budget allows; the queue has it otherwise."""
    left = _budget_left()
    if left is not None and left <= settings.SIDE_EFFECT_TIMEOUT_SECONDS / 2:
        logger.info("side effect left to the queue: budget spent", extra={"side_effect_id": pk})
        return "deferred"
    try:
        return side_effect_attempt(pk)
    except Exception:
        # Never let a failure after commit reach the caller (a trigger must answer).
        logger.exception("side effect inline attempt crashed", extra={"side_effect_id": pk})
        return "error"


def side_effect_attempt(pk: int, *, force: bool = False) -> str:
    """Run one pending side effect once. Returns done, retry, failed, not_due or skipped.

    The row is locked (SKIP LOCKED) for the attempt, so the inline attempt, the task
    worker and the drain command never run the same effect twice at once, and a done
    effect is never run again.
    """
    with transaction.atomic():
        side_effect = (
            SideEffect.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=SideEffectStatus.PENDING)
            .first()
        )
        if side_effect is None:
            return "skipped"
        if not force and side_effect.next_attempt_at > timezone.now():
            return "not_due"
        executor = EXECUTORS[side_effect.kind]
        started = time.monotonic()
        try:
            executor(side_effect)
        except Exception as exc:
            side_effect.attempts += 1
            side_effect.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if side_effect.attempts >= settings.SIDE_EFFECT_MAX_ATTEMPTS:
                side_effect.status = SideEffectStatus.FAILED
                outcome = "failed"
            else:
                side_effect.next_attempt_at = timezone.now() + backoff_delay(side_effect.attempts)
                outcome = "retry"
            side_effect.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            logger.warning(
                "side effect failed",
                extra={
                    "side_effect_id": pk,
                    "kind": side_effect.kind,
                    "attempts": side_effect.attempts,
                    "outcome": outcome,
                    "error_type": type(exc).__name__,
                },
            )
            return outcome
        side_effect.attempts += 1
        side_effect.status = SideEffectStatus.DONE
        side_effect.done_at = timezone.now()
        side_effect.last_error = ""
        side_effect.payload = _scrub(side_effect)
        side_effect.save(update_fields=["attempts", "status", "done_at", "last_error", "payload"])
        logger.info(
            "side effect done",
            extra={
                "side_effect_id": pk,
                "kind": side_effect.kind,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return "done"


def side_effects_drain(*, limit: int = 100, time_budget: float | None = None) -> dict[str, int]:
    """Run every due side effect (the scheduled drain; covers a lost task too)."""
    counts: dict[str, int] = {}
    deadline = None if time_budget is None else time.monotonic() + time_budget
    for pk in SideEffect.objects.due().order_by("next_attempt_at").values_list("pk", flat=True)[:limit]:
        if deadline is not None and time.monotonic() > deadline:
            break
        outcome = side_effect_attempt(pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _scrub(side_effect: SideEffect) -> dict[str, Any]:
    """Drop message bodies once sent: they may hold codes and personal data."""
    payload = dict(side_effect.payload)
    if side_effect.kind == SideEffectKind.COGNITO_DELETE_USER:
        # The username of an erased person (often their email) goes once Cognito has deleted them.
        payload["username"] = "[deleted]"
    if side_effect.kind == SideEffectKind.SEND_EMAIL:
        for field in ("html", "text"):
            if field in payload:
                payload[field] = f"[sent, {len(payload[field])} characters]"
    return payload
