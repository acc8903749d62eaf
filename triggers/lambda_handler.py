"""The Lambda entry point for every Cognito trigger, and the only place with an error policy.

Attach `triggers.lambda_handler.handler` to any or all user pool triggers. It sets
Django up once per container, dispatches on triggerSource, and returns the event
with its response filled. A user-facing rule (Rejection) becomes a short message
Cognito shows the user; everything else is logged with the trigger source and
answered with a generic message, never a traceback or an internal detail.

Every invocation writes exactly one log line ("trigger invocation") with the trigger
source, user pool, outcome and duration; an error adds its type and a traceback with
email addresses and codes masked.
"""

from __future__ import annotations

import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    # Setup allocates the app registry and every model class and frees almost nothing, so
    # collections during it are pure cost (about 10 % of a cold start, docs/cold-start.md);
    # freezing what it built keeps later collections (and a SnapStart snapshot) off it.
    import gc

    gc.disable()
    try:
        django.setup()
    finally:
        gc.enable()
    gc.freeze()

from django.db import InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from triggers import registry
from triggers.errors import (
    MalformedEvent,
    Rejection,
    TemporaryFailure,
    TriggerError,
    UnknownTrigger,
)
from triggers.events import CognitoEvent, parse_event

logger = logging.getLogger("gatehouse.triggers")

# Families whose answer cannot stop the user any more. Post confirmation runs after
# Cognito has confirmed the user: failing it only shows an error for a sign-up that
# worked. Its work is idempotent and is done again at the first sign-in (profile_onboard).
ANSWER_DESPITE_ERRORS = frozenset({"PostConfirmation"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9.\-]+)")
_CODE = re.compile(r"\b[A-Z0-9]{4}(?:-[A-Z0-9]{4}){3}\b")


def scrub(text: str) -> str:
    """Mask what must not reach the logs (emails, invitation codes) in free text."""
    return _CODE.sub("[code]", _EMAIL.sub(r"***@\1", text))


# Connections across invocations. A Lambda container is frozen between invocations, and a
# kept connection may be dead when it thaws (RDS Proxy's idle client timeout, a failover, a
# NAT idle timeout). CONN_HEALTH_CHECKS pings before the first query of every invocation,
# which doubles the round trips of the one-query triggers (bench/RESULTS.md). So:
# - after an idle gap of PING_AFTER_IDLE_SECONDS or more (a freeze: where dead connections
#   come from), the first query pings first and a dead connection is replaced, as before;
# - back to back, no ping. A connection that died anyway (killed while warm) fails on the
#   first statement with OperationalError/InterfaceError; when no statement of the
#   invocation had succeeded and the connection is really unusable, the invocation runs
#   once more on a new connection. Nothing of the first attempt reached the database (a
#   first statement that committed before the socket died is the one ambiguous case, and
#   every trigger is idempotent: Cognito retries them too). A live connection's error (a
#   statement timeout) is never retried, nor a failure that took longer than
#   RETRY_IF_DEAD_WITHIN_SECONDS (a statement killed while it waited): a retry then could
#   take the invocation past Cognito's 5 seconds. A dead socket fails at once.
# Wall-clock time, not monotonic: a frozen microVM's monotonic clock need not advance.
PING_AFTER_IDLE_SECONDS = 1.0
RETRY_IF_DEAD_WITHIN_SECONDS = 0.5
_last_finished = float("-inf")


def _refresh_connections(*, skip_ping: bool = False) -> list[BaseDatabaseWrapper]:
    """Django's close_old_connections, except for a connection inside a caller's transaction.

    Closing that one (a test, `invoke_trigger --rollback`) would break the caller; a real
    invocation is never inside one. With `skip_ping`, kept connections are used without a
    health check; they are returned, for _run to watch.
    """
    unpinged = []
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()
        # django-stubs lacks the health-check attributes Django 5.1 added to the wrapper.
        if skip_ping and conn.connection is not None and conn.health_check_enabled:  # type: ignore[attr-defined]
            conn.health_check_done = True  # type: ignore[attr-defined]
            unpinged.append(conn)
    return unpinged


class _StatementWatch:
    """An execute wrapper noting whether any statement of the invocation succeeded."""

    __slots__ = ("succeeded",)

    def __init__(self) -> None:
        self.succeeded = False

    def __call__(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        self.succeeded = True
        return result


def _lost(conn: BaseDatabaseWrapper, kept: Any) -> bool:
    """Whether the kept connection died: unusable, or already dropped by Django (an atomic
    block whose rollback failed closes it, and leaving the block may connect anew)."""
    return conn.connection is not kept or not conn.is_usable()


def _run(
    handler: Callable[[CognitoEvent], dict[str, Any]],
    event: CognitoEvent,
    unpinged: list[BaseDatabaseWrapper],
) -> dict[str, Any]:
    """Call the handler; once more on a new connection if an unpinged kept one was dead."""
    if not unpinged:
        return handler(event)
    watch = _StatementWatch()
    kept = [(conn, conn.connection) for conn in unpinged]
    started = time.monotonic()
    with ExitStack() as stack:
        for conn in unpinged:
            stack.enter_context(conn.execute_wrapper(watch))
        try:
            return handler(event)
        except (OperationalError, InterfaceError):
            if (
                watch.succeeded
                or time.monotonic() - started > RETRY_IF_DEAD_WITHIN_SECONDS
                or any(conn.in_atomic_block for conn in unpinged)
            ):
                raise
            lost = [(conn, original) for conn, original in kept if _lost(conn, original)]
            if not lost:
                raise
    for conn, original in lost:
        if conn.connection is original:
            conn.close()
    logger.warning("database connection was dead; invocation run again on a new connection")
    return handler(event)


def _source_of(event: Any) -> str:
    source = event.get("triggerSource") if isinstance(event, dict) else None
    # Scrubbed: a malformed source is free text, and this value is logged on every line.
    return scrub(source[:64]) if isinstance(source, str) else "?"


def invoke(event: Any, context: Any = None, *, families: frozenset[str] | None = None) -> dict[str, Any]:
    """Run one invocation under the error policy; `families` restricts a single-trigger function."""
    global _last_finished
    started = time.perf_counter()
    trigger_source = _source_of(event)
    user_pool_id = event.get("userPoolId") if isinstance(event, dict) else None
    line: dict[str, Any] = {"outcome": "ok"}
    level = logging.INFO
    parsed: CognitoEvent | None = None
    # A connection frozen with the container may be dead or past CONN_MAX_AGE: Django
    # does this only around HTTP requests, so triggers must do it themselves (see
    # PING_AFTER_IDLE_SECONDS for when a kept connection is pinged first).
    idle = abs(time.time() - _last_finished) >= PING_AFTER_IDLE_SECONDS
    unpinged = _refresh_connections(skip_ping=not idle)
    try:
        parsed = parse_event(event)
        if families is not None and parsed.family not in families:
            raise UnknownTrigger(f"{parsed.trigger_source} sent to a function for {sorted(families)}")
        handler = registry.resolve(parsed.trigger_source)
        return _run(handler, parsed, unpinged)
    except Rejection as rejection:
        line.update(outcome="rejected", reason=rejection.reason)
        _record_refusal(trigger_source, user_pool_id, rejection)
        raise
    except (MalformedEvent, UnknownTrigger) as error:
        level = logging.WARNING
        line.update(outcome="invalid", reason=type(error).__name__, detail=scrub(error.detail))
        if (
            isinstance(error, MalformedEvent)
            and parsed is not None
            and parsed.family in ANSWER_DESPITE_ERRORS
        ):
            # The user is confirmed already: a bad shape is answered like any other error
            # here, and the first sign-in onboards them (issue 13, item 2).
            line["answered"] = True
            return parsed.respond()
        raise
    except TriggerError as error:
        level = logging.ERROR
        line.update(outcome="error", reason=type(error).__name__)
        raise
    except Exception as exc:
        level = logging.ERROR
        line.update(
            outcome="error",
            reason=type(exc).__name__,
            traceback=scrub("".join(traceback.format_exception(exc))),
        )
        if parsed is not None and parsed.family in ANSWER_DESPITE_ERRORS:
            line["answered"] = True
            return parsed.respond()
        raise TemporaryFailure(type(exc).__name__) from exc
    finally:
        _refresh_connections()
        _last_finished = time.time()
        logger.log(
            level,
            "trigger invocation",
            extra={
                "trigger_source": trigger_source,
                # Scrubbed and cut like the source: a malformed event's fields are free text.
                "user_pool_id": scrub(user_pool_id[:64]) if isinstance(user_pool_id, str) else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "aws_request_id": getattr(context, "aws_request_id", None),
                **line,
            },
        )


def _record_refusal(trigger_source: str, user_pool_id: Any, rejection: Rejection) -> None:
    """Keep why someone was refused, for staff; a failure to record never changes the answer."""
    if not rejection.record:
        return
    try:
        # Only a refusal needs the invites app: the token and sign-in paths never load it.
        from invites.services import refusal_record

        refusal_record(
            trigger_source=trigger_source,
            reason=rejection.reason,
            user_pool_id=user_pool_id if isinstance(user_pool_id, str) else "",
            detail=rejection.detail,
            **rejection.record,
        )
    except Exception as exc:
        logger.error(
            "could not record a refusal",
            extra={
                "trigger_source": trigger_source,
                "reason": type(exc).__name__,
                "traceback": scrub("".join(traceback.format_exception(exc))),
            },
        )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda handler for every trigger."""
    return invoke(event, context)


def handler_for(*families: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler restricted to some trigger families (for single-trigger functions)."""
    allowed = frozenset(families)

    def single(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return invoke(event, context, families=allowed)

    return single
