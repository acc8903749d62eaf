"""The scheduled drain's Lambda entry runs due side effects through the outbox."""

from __future__ import annotations

from typing import Any

from outbox.models import SideEffect, SideEffectStatus
from triggers.drain import handler


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_drain_sends_a_queued_email_once(aws: Any, transactional_db: None) -> None:
    from outbox.runner import inline_budget
    from tenants.messages import email_queue

    with inline_budget(0):  # as when a trigger's time ran out: the row waits for the drain
        email_queue(
            key="drain-test", template="welcome", to="ada@acme.test", company=None, language="en", context={}
        )

    first = handler({}, _Context(remaining_ms=120_000))
    second = handler({}, _Context(remaining_ms=120_000))

    assert (first["counts"], second["counts"]) == ({"done": 1}, {})
    assert list(SideEffect.objects.values_list("status", flat=True)) == [SideEffectStatus.DONE]
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["ada@acme.test"]]


def test_the_drain_starts_nothing_when_the_function_has_no_time_left(
    aws: Any, transactional_db: None
) -> None:
    from outbox.runner import inline_budget
    from tenants.messages import email_queue

    with inline_budget(0):
        email_queue(
            key="drain-late", template="welcome", to="ada@acme.test", company=None, language="en", context={}
        )

    assert handler({}, _Context(remaining_ms=5_000))["counts"] == {}
    assert list(SideEffect.objects.values_list("status", flat=True)) == [SideEffectStatus.PENDING]


def test_the_drain_prunes_long_expired_login_codes_and_rate_limit_windows(transactional_db: None) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import LoginCode
    from tenants.models import RateLimitCounter

    now = timezone.now()
    RateLimitCounter.objects.create(
        scope="signup_ip", key="old", window_start=now - timedelta(days=3), count=4
    )
    RateLimitCounter.objects.create(scope="signup_ip", key="new", window_start=now, count=1)
    LoginCode.objects.create(username="ada", code_hash="a" * 64, expires_at=now - timedelta(days=2))
    LoginCode.objects.create(username="ada", code_hash="b" * 64, expires_at=now + timedelta(minutes=5))

    result = handler({}, _Context(remaining_ms=120_000))

    assert result["pruned"] == {
        "expired_side_effects": 0,
        "login_codes": 1,
        "rate_limit_windows": 1,
        "activity_events": 0,
        "signup_refusals": 0,
        "finished_side_effects": 0,
        "task_results": 0,
    }
    assert list(RateLimitCounter.objects.values_list("key", flat=True)) == ["new"]
    assert list(LoginCode.objects.values_list("code_hash", flat=True)) == ["b" * 64]


def test_the_drain_runs_past_the_old_fixed_200_until_nothing_is_due(aws: Any, transactional_db: None) -> None:
    from outbox.runner import inline_budget
    from outbox.services import side_effect_enqueue

    with inline_budget(0):
        for i in range(230):
            side_effect_enqueue(
                key=f"group:{i}",
                kind="cognito_enable_user",
                payload={"user_pool_id": "us-east-1_none", "username": f"u{i}"},
                run_inline=False,
            )

    counts = handler({}, _Context(remaining_ms=300_000))["counts"]

    # moto has no such pool: every attempt fails and is rescheduled, but every one was tried.
    assert sum(counts.values()) == 230
    assert SideEffect.objects.filter(attempts=1).count() == 230


def test_the_drain_honours_a_limit_in_its_event(aws: Any, transactional_db: None) -> None:
    from outbox.runner import inline_budget
    from outbox.services import side_effect_enqueue

    with inline_budget(0):
        for i in range(5):
            side_effect_enqueue(
                key=f"group:{i}",
                kind="cognito_enable_user",
                payload={"user_pool_id": "us-east-1_none", "username": f"u{i}"},
                run_inline=False,
            )

    assert sum(handler({"limit": 3}, _Context(remaining_ms=300_000))["counts"].values()) == 3
