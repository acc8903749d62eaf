"""Lambda entry point for the SQS queue of side effects (the event-driven path, docs/scaling.md).

Each message carries only a side effect's id (outbox.runner.side_effect_dispatch): the
outbox row is the record. Each is run once through outbox.runner.side_effect_attempt, the
same locked attempt the drain and the inline path use, so a duplicate message or a row the
drain holds runs nothing twice. A message whose effect still waits (a retry, throttled,
not yet due, or a crash) is reported in batchItemFailures, so SQS delivers it again after
the visibility timeout and moves it to the dead-letter queue after maxReceiveCount; the row
stays pending and the scheduled drain runs it whatever happens to the message.
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings_triggers")
if not apps.ready:
    django.setup()

from django.db import close_old_connections

from outbox.runner import side_effect_attempt

logger = logging.getLogger("gatehouse.outbox.sqs")

# Outcomes after which the message is finished with: the effect ran, gave up, expired, or is
# not waiting any more (done, or held by another runner that will record the outcome).
_FINISHED = frozenset({"done", "failed", "expired", "skipped"})
# Seconds kept back from the function's timeout: a message not started by then goes back.
SAFETY_SECONDS = 5.0


def _side_effect_id(record: dict[str, Any]) -> int | None:
    try:
        value = json.loads(record["body"])["side_effect_id"]
    except (KeyError, TypeError, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Run each message's side effect; report the ones still waiting as batch item failures."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    timed = context is not None and hasattr(context, "get_remaining_time_in_millis")
    failures: list[str] = []
    counts: dict[str, int] = {}
    close_old_connections()
    try:
        for record in records:
            message_id = str(record.get("messageId", ""))
            if timed and context.get_remaining_time_in_millis() / 1000 < SAFETY_SECONDS:
                failures.append(message_id)  # not started: SQS delivers it again
                continue
            pk = _side_effect_id(record)
            if pk is None:
                # Nothing can run it; after maxReceiveCount it lands in the DLQ for staff to see.
                logger.error("SQS message without a side effect id", extra={"message_id": message_id})
                outcome = "malformed"
            else:
                try:
                    outcome = side_effect_attempt(pk)
                except Exception:
                    logger.exception("side effect attempt crashed", extra={"side_effect_id": pk})
                    outcome = "error"
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome not in _FINISHED:
                failures.append(message_id)
    finally:
        close_old_connections()
    logger.info("side effect messages", extra={"counts": counts, "failures": len(failures)})
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}
