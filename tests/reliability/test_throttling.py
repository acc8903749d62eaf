"""SES and Cognito throttling: the effect waits longer each time and is never given up for it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from outbox.aws import client, reset_clients
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import inline_budget, side_effect_attempt
from outbox.services import OutgoingEmail, email_enqueue, side_effect_enqueue
from tests.conftest import SENDER

pytestmark = pytest.mark.django_db(transaction=True)


def _point(service: str, url: str, settings: Any, moto_url: str) -> None:
    reset_clients()
    settings.AWS_ENDPOINT_URL = url
    client(service)
    settings.AWS_ENDPOINT_URL = moto_url


def _effects() -> list[SideEffect]:
    email = email_enqueue(
        key="throttled",
        email=OutgoingEmail(
            to="ada@acme.test", sender=f"Gatehouse <{SENDER}>", subject="s", html="h", text="t"
        ),
        subject="profile:1",
    )
    group = side_effect_enqueue(
        key="group:throttled",
        kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
        payload={"user_pool_id": "us-east-1_x", "username": "ada", "group": "USER"},
        run_inline=False,
    )
    return [email, group]


@pytest.mark.parametrize("service", ["ses", "cognito-idp"])
def test_a_throttled_call_waits_longer_each_time_and_never_uses_up_the_attempts(
    service: str, aws: Any, settings: Any, fake_service: Any
) -> None:
    settings.SIDE_EFFECT_MAX_ATTEMPTS = 2
    throttling = fake_service(mode="throttle")
    _point(service, throttling.url, settings, aws.url)
    kind = SideEffectKind.SEND_EMAIL if service == "ses" else SideEffectKind.COGNITO_ADD_TO_GROUP
    with inline_budget(0):  # no inline attempt: each attempt below is counted
        effect = next(e for e in _effects() if e.kind == kind)

    waits = []
    for _ in range(4):  # twice SIDE_EFFECT_MAX_ATTEMPTS
        SideEffect.objects.filter(pk=effect.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        assert side_effect_attempt(effect.pk) == "throttled"
        effect.refresh_from_db()
        waits.append(effect.next_attempt_at - before)

    assert (effect.status, effect.attempts, effect.throttles) == (SideEffectStatus.PENDING, 0, 4)
    assert effect.last_error.startswith("throttled (")
    # 30 s doubling, with jitter in the upper half: [15, 30], [30, 60], [60, 120], [120, 240].
    for n, wait in enumerate(waits):
        assert timedelta(seconds=15 * 2**n) <= wait <= timedelta(seconds=30 * 2**n + 1)
    if service == "ses":
        assert "sealed" in effect.payload  # the body is kept to send later
    assert len(throttling.requests) == 4  # one call per attempt: no retry hidden in botocore

    # The rate allows it again: it runs once.
    reset_clients()
    if service == "cognito-idp":
        pool = client("cognito-idp").create_user_pool(PoolName="p")["UserPool"]["Id"]
        client("cognito-idp").admin_create_user(UserPoolId=pool, Username="ada")
        client("cognito-idp").create_group(UserPoolId=pool, GroupName="USER")
        SideEffect.objects.filter(pk=effect.pk).update(payload={**effect.payload, "user_pool_id": pool})
    SideEffect.objects.filter(pk=effect.pk).update(next_attempt_at=timezone.now())
    assert side_effect_attempt(effect.pk) == "done"
    effect.refresh_from_db()
    assert (effect.status, effect.attempts) == (SideEffectStatus.DONE, 1)
