"""The Lambda entry point for every Cognito trigger, and the only place with an error policy.

Attach `triggers.lambda_handler.handler` to any or all user pool triggers. It sets
Django up once per container, dispatches on triggerSource, and returns the event
with its response filled. A user-facing rule (Rejection) becomes a short message
Cognito shows the user; everything else is logged with the trigger source and
answered with a generic message, never a traceback or an internal detail.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    django.setup()

from django.db import close_old_connections

from triggers import registry
from triggers.errors import (
    MalformedEvent,
    Rejection,
    TemporaryFailure,
    TriggerError,
    UnknownTrigger,
)
from triggers.events import parse_event

logger = logging.getLogger("gatehouse.triggers")


def _source_of(event: Any) -> str:
    source = event.get("triggerSource") if isinstance(event, dict) else None
    return source[:64] if isinstance(source, str) else "?"


def invoke(event: Any, context: Any = None, *, families: frozenset[str] | None = None) -> dict[str, Any]:
    """Run one invocation under the error policy; `families` restricts a single-trigger function."""
    started = time.perf_counter()
    trigger_source = _source_of(event)
    user_pool_id = event.get("userPoolId") if isinstance(event, dict) else None
    outcome, reason = "ok", ""
    # A connection frozen with the container may be dead or past CONN_MAX_AGE: Django
    # does this only around HTTP requests, so triggers must do it themselves.
    close_old_connections()
    try:
        parsed = parse_event(event)
        if families is not None and parsed.family not in families:
            raise UnknownTrigger(f"{parsed.trigger_source} sent to a function for {sorted(families)}")
        handler = registry.resolve(parsed.trigger_source)
        return handler(parsed)
    except Rejection as rejection:
        outcome, reason = "rejected", rejection.reason
        _record_refusal(trigger_source, user_pool_id, rejection)
        raise
    except (MalformedEvent, UnknownTrigger) as error:
        outcome, reason = "invalid", type(error).__name__
        logger.warning(
            "trigger refused the event: %s", error.detail, extra={"trigger_source": trigger_source}
        )
        raise
    except TriggerError:
        outcome = "error"
        raise
    except Exception as exc:
        outcome, reason = "error", type(exc).__name__
        logger.exception("trigger failed", extra={"trigger_source": trigger_source})
        raise TemporaryFailure(f"{type(exc).__name__}") from exc
    finally:
        close_old_connections()
        logger.info(
            "trigger invocation",
            extra={
                "trigger_source": trigger_source,
                "user_pool_id": user_pool_id if isinstance(user_pool_id, str) else None,
                "outcome": outcome,
                "reason": reason or None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "aws_request_id": getattr(context, "aws_request_id", None),
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
    except Exception:
        logger.exception("could not record a refusal", extra={"trigger_source": trigger_source})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda handler for every trigger."""
    return invoke(event, context)


def handler_for(*families: str):  # type: ignore[no-untyped-def]
    """A Lambda handler restricted to some trigger families (for single-trigger functions)."""
    allowed = frozenset(families)

    def single(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return invoke(event, context, families=allowed)

    return single
