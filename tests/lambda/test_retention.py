"""The scheduled drain keeps the growing tables bounded: old rows go, in short id-range batches."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LoginCode
from invites.models import SignupRefusal
from outbox.models import SideEffect, SideEffectStatus
from outbox.tasks import perform_side_effect
from tenants.models import ActivityEvent, RateLimitCounter

pytestmark = pytest.mark.django_db(transaction=True)


def _aged(model: Any, days: int, count: int, **fields: Any) -> list[int]:
    """`count` rows, then their creation moved `days` back (created_at is auto_now_add)."""
    rows = [model.objects.create(**fields) for _ in range(count)]
    model.objects.filter(pk__in=[r.pk for r in rows]).update(created_at=timezone.now() - timedelta(days=days))
    return [r.pk for r in rows]


def _drain() -> dict[str, Any]:
    from triggers.drain import handler

    return handler({}, None)


def test_the_drain_deletes_only_rows_older_than_their_retention(settings: Any) -> None:
    settings.ACTIVITY_RETENTION_DAYS = 90
    settings.REFUSAL_RETENTION_DAYS = 30
    settings.SIDE_EFFECT_RETENTION_DAYS = 14
    settings.TASK_RESULT_RETENTION_DAYS = 7
    _aged(ActivityEvent, 91, 3, kind="sign_in")
    kept_events = _aged(ActivityEvent, 89, 2, kind="sign_in")
    refusal = {"trigger_source": "PreSignUp_SignUp", "reason": "invitation_required"}
    _aged(SignupRefusal, 31, 2, **refusal)
    kept_refusals = _aged(SignupRefusal, 29, 1, **refusal)
    done = {"kind": "crm_webhook", "payload": {}}
    old_done = SideEffect.objects.create(
        key="old-done", status=SideEffectStatus.DONE, done_at=timezone.now(), **done
    )
    old_failed = SideEffect.objects.create(key="old-failed", status=SideEffectStatus.FAILED, **done)
    # Waiting work and a "maybe sent" row are never pruned, however old.
    old_pending = SideEffect.objects.create(
        key="old-pending", next_attempt_at=timezone.now() + timedelta(days=1), **done
    )
    old_in_flight = SideEffect.objects.create(key="old-in-flight", status=SideEffectStatus.IN_FLIGHT, **done)
    new_done = SideEffect.objects.create(
        key="new-done", status=SideEffectStatus.DONE, done_at=timezone.now(), **done
    )
    SideEffect.objects.exclude(pk=new_done.pk).update(created_at=timezone.now() - timedelta(days=15))
    old_task = perform_side_effect.enqueue(side_effect_id=old_done.pk)
    new_task = perform_side_effect.enqueue(side_effect_id=new_done.pk)
    waiting_task = perform_side_effect.enqueue(side_effect_id=old_pending.pk)
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(pk=old_task.id).update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=8)
    )
    DBTaskResult.objects.filter(pk=new_task.id).update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=6)
    )
    DBTaskResult.objects.filter(pk=waiting_task.id).update(enqueued_at=timezone.now() - timedelta(days=30))

    pruned = _drain()["pruned"]

    assert pruned == {
        "expired_side_effects": 0,
        "login_codes": 0,
        "rate_limit_windows": 0,
        "activity_events": 3,
        "signup_refusals": 2,
        "finished_side_effects": 2,
        "task_results": 1,
    }
    assert sorted(ActivityEvent.objects.values_list("pk", flat=True)) == kept_events
    assert sorted(SignupRefusal.objects.values_list("pk", flat=True)) == kept_refusals
    assert set(SideEffect.objects.values_list("pk", flat=True)) == {
        old_pending.pk,
        old_in_flight.pk,
        new_done.pk,
    }
    assert not SideEffect.objects.filter(pk__in=[old_done.pk, old_failed.pk]).exists()
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {
        DBTaskResult.objects.get(pk=new_task.id).pk,
        DBTaskResult.objects.get(pk=waiting_task.id).pk,
    }


def test_old_rows_go_in_batches_of_bounded_id_ranges(settings: Any) -> None:
    settings.RETENTION_BATCH_SIZE = 4
    old = _aged(ActivityEvent, 100, 10, kind="sign_in")
    new = _aged(ActivityEvent, 1, 3, kind="sign_in")

    from tenants.retention import activity_events_prune

    with CaptureQueriesContext(connection) as context:
        assert activity_events_prune() == 10

    deletes = [q["sql"] for q in context.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # ids old[0]..old[9] in ranges of 4: 4 + 4 + 2
    ranges = [tuple(map(int, re.search(r"BETWEEN (\d+) AND (\d+)", sql).groups())) for sql in deletes]  # type: ignore[union-attr]
    assert ranges == [(old[0], old[0] + 3), (old[0] + 4, old[0] + 7), (old[0] + 8, old[0] + 11)]
    assert all('"created_at" <' in sql for sql in deletes)
    assert sorted(ActivityEvent.objects.values_list("pk", flat=True)) == new


def test_a_prune_stops_between_batches_when_its_deadline_passed(settings: Any) -> None:
    import time

    settings.RETENTION_BATCH_SIZE = 2
    _aged(ActivityEvent, 100, 6, kind="sign_in")
    from tenants.retention import activity_events_prune

    assert activity_events_prune(deadline=time.monotonic() - 1) == 0
    assert ActivityEvent.objects.count() == 6


def test_login_codes_and_rate_limit_windows_go_in_batches_after_their_retention(settings: Any) -> None:
    settings.RETENTION_BATCH_SIZE = 2
    now = timezone.now()
    for i in range(5):
        LoginCode.objects.create(username="ada", code_hash=f"{i}" * 64, expires_at=now - timedelta(days=2))
        RateLimitCounter.objects.create(scope="signup_ip", key=f"k{i}", window_start=now - timedelta(days=3))
    LoginCode.objects.create(username="ada", code_hash="n" * 64, expires_at=now + timedelta(minutes=5))
    RateLimitCounter.objects.create(scope="signup_ip", key="new", window_start=now)

    with CaptureQueriesContext(connection) as context:
        pruned = _drain()["pruned"]

    assert (pruned["login_codes"], pruned["rate_limit_windows"]) == (5, 5)
    deletes = [q["sql"] for q in context.captured_queries if q["sql"].startswith("DELETE")]
    code_deletes = [sql for sql in deletes if "triggers_logincode" in sql]
    assert len(code_deletes) == 3
    assert all("LIMIT 2" in sql for sql in code_deletes)
    assert len([sql for sql in deletes if "tenants_ratelimitcounter" in sql]) == 3
    assert list(LoginCode.objects.values_list("code_hash", flat=True)) == ["n" * 64]
    assert list(RateLimitCounter.objects.values_list("key", flat=True)) == ["new"]
