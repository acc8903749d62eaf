"""Warm invocations and the database connection: no ping back to back, dead ones still replaced.

Also the passwordless email under a slow or unreachable SES: create answers inside its
budget and the email waits in the outbox. Real commits (transaction=True) throughout, so
that the connection is the Lambda's own and after-commit work runs where it does in Lambda.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections

from accounts.models import LoginCode
from outbox.aws import reset_clients
from outbox.models import SideEffect, SideEffectStatus
from tenants.models import ActivityEvent, UserProfile
from tests.triggers.helpers import make_event
from triggers import lambda_handler
from triggers.errors import TemporaryFailure
from triggers.lambda_handler import handler

SIGN_UP = "PreSignUp_SignUp"
CONFIRM = "PostConfirmation_ConfirmSignUp"
RETRIED = "database connection was dead; invocation run again on a new connection"

pytestmark = pytest.mark.django_db(transaction=True)


def kill_backend() -> int:
    """Terminate the backend of the kept connection, as a failover or an idle timeout would."""
    pid = connection.connection.info.backend_pid
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        killer.close()
    return pid


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each health check Django runs (BaseDatabaseWrapper.is_usable), with its answer."""
    seen: list[bool] = []
    wrapper = type(connections["default"])
    original = wrapper.is_usable

    def is_usable(self: Any) -> bool:
        usable = original(self)
        seen.append(usable)
        return usable

    monkeypatch.setattr(wrapper, "is_usable", is_usable)
    return seen


def retried(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.getMessage() == RETRIED)


def test_back_to_back_invocations_send_no_health_check(open_policy: Any, pings: list[bool]) -> None:
    handler(make_event(SIGN_UP), None)
    pid = connection.connection.info.backend_pid
    pings.clear()  # the first invocation came after an idle gap

    for _ in range(3):
        assert handler(make_event(SIGN_UP), None)["response"]["autoConfirmUser"] is False

    assert pings == []
    assert connection.connection.info.backend_pid == pid


def test_after_an_idle_gap_the_connection_is_pinged_and_a_dead_one_replaced(
    open_policy: Any, pings: list[bool], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lambda_handler, "PING_AFTER_IDLE_SECONDS", 0.0)  # every gap is a freeze
    handler(make_event(SIGN_UP), None)
    stale = kill_backend()
    pings.clear()

    answer = handler(make_event(SIGN_UP), None)

    assert answer["response"]["autoConfirmUser"] is False
    assert pings == [False]  # the ping found it dead before the trigger ran
    assert retried(caplog) == 0
    assert connection.connection.info.backend_pid != stale


def test_a_connection_killed_while_warm_is_replaced_and_the_work_done_once(
    open_policy: Any, pings: list[bool], caplog: pytest.LogCaptureFixture
) -> None:
    handler(make_event(SIGN_UP), None)
    stale = kill_backend()
    event = make_event(CONFIRM, sub="5b0c1d2e-0000-4000-8000-00000000000b", email="bob@example.com")

    with caplog.at_level(logging.WARNING, logger="gatehouse.triggers"):
        answer = handler(event, None)

    assert answer["response"] == {}
    assert retried(caplog) == 1
    assert connection.connection.info.backend_pid != stale
    profile = UserProfile.objects.get()
    assert profile.cognito_sub == "5b0c1d2e-0000-4000-8000-00000000000b"
    assert ActivityEvent.objects.filter(profile=profile).count() == 1
    assert list(SideEffect.objects.values_list("key", flat=True)) == [
        "email:welcome:5b0c1d2e-0000-4000-8000-00000000000b"
    ]


def test_a_connection_lost_after_the_first_statement_fails_closed_without_a_retry(
    open_policy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    handler(make_event(SIGN_UP), None)
    killed: list[int] = []

    def kill_after_first(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if not killed:
            killed.append(kill_backend())
        return result

    with connection.execute_wrapper(kill_after_first), pytest.raises(TemporaryFailure):
        handler(make_event(SIGN_UP), None)

    # Part of the work may have reached the database: only Cognito may try again.
    assert retried(caplog) == 0
    assert handler(make_event(SIGN_UP), None)["response"]["autoConfirmUser"] is False
    assert connection.connection.info.backend_pid != killed[0]


# --- Passwordless email with SES slow or unreachable -----------------------------------------


@pytest.fixture
def silent_ses(settings: Any) -> Iterator[socket.socket]:
    """An SES endpoint that accepts connections and never answers (a hung or unreachable SES)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.SIDE_EFFECT_TIMEOUT_SECONDS = 0.5
    reset_clients()
    try:
        yield listener
    finally:
        listener.close()
        reset_clients()


def create(sub: str) -> tuple[dict[str, Any], float]:
    event = make_event(
        "CreateAuthChallenge_Authentication", sub=sub, user_name=sub, email="carol@example.com"
    )
    event["request"].update(challengeName="CUSTOM_CHALLENGE", session=[], userNotFound=False)
    started = time.perf_counter()
    response = handler(event, None)["response"]
    return response, time.perf_counter() - started


def accepted(listener: socket.socket) -> int:
    """How many connections reached the silent SES."""
    listener.setblocking(False)
    count = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            listener.accept()[0].close()
            count += 1
    return count


def test_create_answers_within_one_ses_timeout_and_the_email_waits_in_the_outbox(
    silent_ses: socket.socket, settings: Any
) -> None:
    settings.SIDE_EFFECT_INLINE_BUDGET_SECONDS = 2.0

    response, elapsed = create("6c1d2e3f-0000-4000-8000-00000000000c")

    # One inline attempt, cut at the SES timeout (0.5 s), far inside Cognito's 5 seconds.
    assert elapsed < 2.0, f"create took {elapsed:.2f}s"
    assert response["publicChallengeParameters"]["deliveryMedium"] == "EMAIL"
    challenge_id = response["privateChallengeParameters"]["challengeId"]
    assert LoginCode.objects.filter(pk=challenge_id, used_at__isnull=True).exists()
    email = SideEffect.objects.get()
    assert (email.key, email.status, email.attempts) == (
        f"email:login_code:{challenge_id}",
        SideEffectStatus.PENDING,
        1,
    )
    assert email.last_error.startswith("EmailNotSent: ReadTimeoutError")
    assert accepted(silent_ses) == 1


def test_create_with_its_budget_spent_leaves_the_email_to_the_queue_untried(
    silent_ses: socket.socket, settings: Any
) -> None:
    # A budget under half the SES timeout cannot fit an attempt: none is started.
    settings.SIDE_EFFECT_INLINE_BUDGET_SECONDS = 0.2

    response, elapsed = create("6c1d2e3f-0000-4000-8000-00000000000d")

    assert elapsed < 0.5, f"create took {elapsed:.2f}s"
    challenge_id = response["privateChallengeParameters"]["challengeId"]
    email = SideEffect.objects.get()
    assert (email.key, email.status, email.attempts, email.last_error) == (
        f"email:login_code:{challenge_id}",
        SideEffectStatus.PENDING,
        0,
        "",
    )
    assert accepted(silent_ses) == 0
