"""Running side effects: one attempt under a row lock, the inline budget, the drain, backoff.

The task worker (outbox.tasks), the inline attempt after a trigger's commit and the
scheduled drain all come through side_effect_attempt, which locks the row (SKIP LOCKED) so
no effect runs twice at once, and a done effect never runs again.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.db import delete_old_by_id_ranges, delete_old_in_batches
from outbox.aws import client, error_code, is_throttling
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


# Outcomes after which the effect still waits: the consumer (or the drain) must run it.
_STILL_WAITING = frozenset({"queued", "deferred", "error", "retry", "throttled"})


def side_effect_after_commit(pk: int, *, run_inline: bool) -> str:
    """After the trigger's commit: try the effect inline, then hand what still waits to SQS."""
    outcome = side_effect_run_inline(pk) if run_inline else "queued"
    if settings.SIDE_EFFECT_QUEUE_URL and outcome in _STILL_WAITING:
        # A retry or a throttle waits for its first backoff (30 s) before the consumer sees it.
        waits = outcome in {"retry", "throttled"}
        side_effect_dispatch(pk, delay=int(backoff_delay(1).total_seconds()) if waits else 0)
    return outcome


def side_effect_dispatch(pk: int, *, delay: int = 0) -> bool:
    """Send a side effect's id to the SQS queue (SIDE_EFFECT_QUEUE_URL); False if it failed.

    Only the id travels: the outbox row stays the record, so when SQS is down nothing is
    lost (this is logged and the scheduled drain finds the row).
    """
    try:
        client("sqs").send_message(
            QueueUrl=settings.SIDE_EFFECT_QUEUE_URL,
            MessageBody=json.dumps({"side_effect_id": pk}),
            DelaySeconds=min(max(delay, 0), 900),  # SQS's maximum delay
        )
    except Exception as exc:
        logger.warning(
            "side effect not sent to SQS: the drain will run it",
            extra={"side_effect_id": pk, "error_type": type(exc).__name__, "error_code": error_code(exc)},
        )
        return False
    return True


def side_effect_attempt(pk: int, *, force: bool = False) -> str:
    """Run one pending side effect once: done, retry, throttled, failed, expired, not_due or skipped.

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
        if is_throttling(exc):
            return _throttled(side_effect, exc)
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


# Jitter from the OS's generator: the project never uses the random module (test_log_hygiene).
_jitter = secrets.SystemRandom()


def _throttled(side_effect: SideEffect, exc: Exception) -> str:
    """SES or Cognito refused the call for its rate: wait and try again, never give up for it.

    A throttled call did nothing, so it is not counted as an attempt (SIDE_EFFECT_MAX_ATTEMPTS
    is for calls that failed); the wait doubles with each throttle in a row, with full jitter
    so that a backlog does not come back all at once (AWS Builders' Library, "Timeouts,
    retries and backoff with jitter"). An expiry still ends it.
    """
    throttles = side_effect.throttles + 1
    delay = backoff_delay(throttles).total_seconds()
    with transaction.atomic():
        SideEffect.objects.filter(pk=side_effect.pk, status=SideEffectStatus.IN_FLIGHT).update(
            status=SideEffectStatus.PENDING,
            throttles=throttles,
            next_attempt_at=timezone.now() + timedelta(seconds=delay / 2 + _jitter.uniform(0, delay / 2)),
            last_error=f"throttled ({error_code(exc)}): will try again"[:2000],
        )
    logger.warning(
        "side effect throttled",
        extra={"side_effect_id": side_effect.pk, "kind": side_effect.kind, "throttles": throttles},
    )
    return "throttled"


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


DRAIN_BATCH = 100


def side_effects_drain(*, limit: int | None = None, time_budget: float | None = None) -> dict[str, int]:
    """Run due side effects until none is left or the time budget is spent (the scheduled drain).

    Reads due ids a batch at a time in (next_attempt_at, id) order, each batch after the
    last one seen, so a row another worker holds (skipped) is not read again in this run.
    `limit` caps the number attempted (None: no cap); the drain covers a lost task too.
    """
    counts: dict[str, int] = {}
    deadline = None if time_budget is None else time.monotonic() + time_budget
    attempted = 0
    after: tuple[Any, int] | None = None
    while limit is None or attempted < limit:
        due = SideEffect.objects.due().order_by("next_attempt_at", "pk")
        if after is not None:
            due = due.filter(Q(next_attempt_at__gt=after[0]) | Q(next_attempt_at=after[0], pk__gt=after[1]))
        size = DRAIN_BATCH if limit is None else min(DRAIN_BATCH, limit - attempted)
        batch = list(due.values_list("next_attempt_at", "pk")[:size])
        for next_attempt_at, pk in batch:
            if deadline is not None and time.monotonic() > deadline:
                return counts
            outcome = side_effect_attempt(pk)
            counts[outcome] = counts.get(outcome, 0) + 1
            attempted += 1
            after = (next_attempt_at, pk)
        if len(batch) < size:
            break
    return counts


def side_effects_prune_finished(*, deadline: float | None = None) -> int:
    """Delete done and given-up effects older than SIDE_EFFECT_RETENTION_DAYS, by id ranges.

    Waiting and in-flight rows are kept whatever their age: they are work, or staff's to decide.
    """
    return delete_old_by_id_ranges(
        SideEffect.objects.filter(status__in=[SideEffectStatus.DONE, SideEffectStatus.FAILED]),
        time_field="created_at",
        cutoff=timezone.now() - timedelta(days=settings.SIDE_EFFECT_RETENTION_DAYS),
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )


def task_results_prune(*, deadline: float | None = None) -> int:
    """Delete django-tasks-db results finished more than TASK_RESULT_RETENTION_DAYS ago.

    Their key is a UUID, so batches are LIMITed reads of the finished_at index outbox 0007 adds.
    """
    return delete_old_in_batches(
        DBTaskResult.objects.filter(finished_at__isnull=False),
        time_field="finished_at",
        cutoff=timezone.now() - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS),
        batch_size=settings.RETENTION_BATCH_SIZE,
        deadline=deadline,
    )


def _scrub(side_effect: SideEffect, why: str) -> dict[str, Any]:
    """The payload without its sealed part: once sent, given up or expired, bodies go."""
    payload = {k: v for k, v in side_effect.payload.items() if k not in {SEALED, "html", "text", "subject"}}
    if side_effect.kind == SideEffectKind.COGNITO_DELETE_USER:
        # The username of an erased person (often their email) goes once Cognito has deleted them.
        payload["username"] = "[deleted]"
    if side_effect.kind == SideEffectKind.SEND_EMAIL:
        payload["body"] = f"dropped: {why}"
    return payload
