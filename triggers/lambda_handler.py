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
from typing import Any

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    django.setup()

from django.db import connections

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


def _refresh_connections() -> None:
    """Django's close_old_connections, except for a connection inside a caller's transaction.

    Closing that one (a test, `invoke_trigger --rollback`) would break the caller; a real
    invocation is never inside one.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _source_of(event: Any) -> str:
    source = event.get("triggerSource") if isinstance(event, dict) else None
    return source[:64] if isinstance(source, str) else "?"


def invoke(event: Any, context: Any = None, *, families: frozenset[str] | None = None) -> dict[str, Any]:
    """Run one invocation under the error policy; `families` restricts a single-trigger function."""
    started = time.perf_counter()
    trigger_source = _source_of(event)
    user_pool_id = event.get("userPoolId") if isinstance(event, dict) else None
    line: dict[str, Any] = {"outcome": "ok"}
    level = logging.INFO
    parsed: CognitoEvent | None = None
    # A connection frozen with the container may be dead or past CONN_MAX_AGE: Django
    # does this only around HTTP requests, so triggers must do it themselves. With
    # CONN_HEALTH_CHECKS the next query pings a kept connection and replaces a dead one.
    _refresh_connections()
    try:
        parsed = parse_event(event)
        if families is not None and parsed.family not in families:
            raise UnknownTrigger(f"{parsed.trigger_source} sent to a function for {sorted(families)}")
        handler = registry.resolve(parsed.trigger_source)
        return handler(parsed)
    except Rejection as rejection:
        line.update(outcome="rejected", reason=rejection.reason)
        _record_refusal(trigger_source, user_pool_id, rejection)
        raise
    except (MalformedEvent, UnknownTrigger) as error:
        level = logging.WARNING
        line.update(outcome="invalid", reason=type(error).__name__, detail=scrub(error.detail))
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
        logger.log(
            level,
            "trigger invocation",
            extra={
                "trigger_source": trigger_source,
                "user_pool_id": user_pool_id if isinstance(user_pool_id, str) else None,
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
