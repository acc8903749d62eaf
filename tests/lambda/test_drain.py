"""The scheduled drain's Lambda entry runs due side effects through the outbox."""

from __future__ import annotations

from typing import Any

from outbox.lambda_drain import handler
from outbox.models import SideEffect, SideEffectStatus


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_drain_sends_a_queued_email_once(aws: Any, transactional_db: None) -> None:
    from outbox.services import email_enqueue, inline_budget

    with inline_budget(0):  # as when a trigger's time ran out: the row waits for the drain
        email_enqueue(
            key="drain-test", template="welcome", to="ada@acme.test", company=None, language="en", context={}
        )

    first = handler({}, _Context(remaining_ms=120_000))
    second = handler({}, _Context(remaining_ms=120_000))

    assert (first, second) == ({"counts": {"done": 1}}, {"counts": {}})
    assert list(SideEffect.objects.values_list("status", flat=True)) == [SideEffectStatus.DONE]
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["ada@acme.test"]]


def test_the_drain_starts_nothing_when_the_function_has_no_time_left(
    aws: Any, transactional_db: None
) -> None:
    from outbox.services import email_enqueue, inline_budget

    with inline_budget(0):
        email_enqueue(
            key="drain-late", template="welcome", to="ada@acme.test", company=None, language="en", context={}
        )

    assert handler({}, _Context(remaining_ms=5_000)) == {"counts": {}}
    assert list(SideEffect.objects.values_list("status", flat=True)) == [SideEffectStatus.PENDING]
