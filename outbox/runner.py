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

from outbox.crypto import SEALED
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
    """Run one pending side effect once. Returns done, retry, failed, expired, not_due or skipped.

    The row is claimed under a lock (SKIP LOCKED) and marked in flight in a transaction of
    its own, committed before the call: the inline attempt, the task worker and the drain
    never run the same effect twice at once, a done effect never runs again, and an attempt
    whose outcome was never recorded (a crash, or the commit after the call failed) stays in
    flight, shown to staff as "maybe sent", and is not retried automatically: SES has no
    idempotency token, so only staff may decide to risk a duplicate.
    """
    with transaction.atomic():
        side_effect = (
            SideEffect.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=SideEffectStatus.PENDING)
            .first()
        )
        if side_effect is None:
            return "skipped"
        now = timezone.now()
        if not force and side_effect.next_attempt_at > now:
            return "not_due"
        if side_effect.expires_at is not None and side_effect.expires_at <= now:
            _give_up_expired(side_effect)
            return "expired"
        side_effect.status = SideEffectStatus.IN_FLIGHT
        side_effect.attempt_started_at = now
        side_effect.save(update_fields=["status", "attempt_started_at"])
    # Committed: until the outcome below commits, the row says the call may have happened.
    executor = EXECUTORS[side_effect.kind]
    started = time.monotonic()
    in_flight = SideEffect.objects.filter(pk=pk, status=SideEffectStatus.IN_FLIGHT)
    try:
        executor(side_effect)
    except Exception as exc:
        # The executor answered: the call failed, so trying again sends at most once more.
        attempts = side_effect.attempts + 1
        changes: dict[str, Any] = {"attempts": attempts, "last_error": f"{type(exc).__name__}: {exc}"[:2000]}
        if attempts >= settings.SIDE_EFFECT_MAX_ATTEMPTS:
            changes.update(status=SideEffectStatus.FAILED, payload=_scrub(side_effect, "failed"))
            outcome = "failed"
        else:
            changes.update(
                status=SideEffectStatus.PENDING, next_attempt_at=timezone.now() + backoff_delay(attempts)
            )
            outcome = "retry"
        with transaction.atomic():
            in_flight.update(**changes)
        logger.warning(
            "side effect failed",
            extra={
                "side_effect_id": pk,
                "kind": side_effect.kind,
                "attempts": attempts,
                "outcome": outcome,
                "error_type": type(exc).__name__,
            },
        )
        return outcome
    with transaction.atomic():
        in_flight.update(
            attempts=side_effect.attempts + 1,
            status=SideEffectStatus.DONE,
            done_at=timezone.now(),
            last_error="",
            payload=_scrub(side_effect, "sent"),
        )
    logger.info(
        "side effect done",
        extra={
            "side_effect_id": pk,
            "kind": side_effect.kind,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return "done"


def _give_up_expired(side_effect: SideEffect) -> None:
    """Scrub an effect whose content expired and stop trying it (called under its row lock)."""
    maybe = (
        " (an earlier attempt may have sent it)" if side_effect.status == SideEffectStatus.IN_FLIGHT else ""
    )
    side_effect.status = SideEffectStatus.FAILED
    side_effect.payload = _scrub(side_effect, "expired")
    side_effect.last_error = f"Expired before it was sent{maybe}: what it carried no longer works."
    side_effect.save(update_fields=["status", "payload", "last_error"])


def side_effects_scrub_expired(*, limit: int = 1000) -> int:
    """Scrub and give up waiting or in-flight effects whose expiry passed (the drain's prune)."""
    scrubbed = 0
    with transaction.atomic():
        for side_effect in (
            SideEffect.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[SideEffectStatus.PENDING, SideEffectStatus.IN_FLIGHT],
                expires_at__lte=timezone.now(),
            )
            .order_by("expires_at")[:limit]
        ):
            _give_up_expired(side_effect)
            scrubbed += 1
    return scrubbed


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


def _scrub(side_effect: SideEffect, why: str) -> dict[str, Any]:
    """The payload without its sealed part: once sent, given up or expired, bodies go."""
    payload = {k: v for k, v in side_effect.payload.items() if k not in {SEALED, "html", "text", "subject"}}
    if side_effect.kind == SideEffectKind.COGNITO_DELETE_USER:
        # The username of an erased person (often their email) goes once Cognito has deleted them.
        payload["username"] = "[deleted]"
    if side_effect.kind == SideEffectKind.SEND_EMAIL:
        payload["body"] = f"dropped: {why}"
    return payload
