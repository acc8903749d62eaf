"""Faults: SES, Cognito and the CRM down, slow or throttling; Postgres unreachable or killed mid-way.

Cognito waits 5 seconds for a trigger. Post confirmation must answer well inside that whatever
the services do, onboard the user, and leave what failed in the outbox until the service is
back: then it is sent once. Pre sign-up and pre token generation decide who gets in and what a
token says, so without the database they fail closed with the generic message, and the next
invocation recovers on its own. Fake services bind 127.0.0.1 only and sleep a bounded time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections

from outbox.aws import client, reset_clients
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import side_effects_drain
from outbox.services import side_effect_retry
from tenants.models import UserProfile
from tests.reliability.conftest import closed_port
from tests.triggers.helpers import make_event
from triggers.errors import TemporaryFailure
from triggers.lambda_handler import handler

EMAIL = "alice@acme.com"
SUB = "5b2f0c1e-0000-4000-8000-0000000fa017"
GENERIC = TemporaryFailure.public_message
ANSWER_WITHIN_SECONDS = 3.0  # Cognito gives 5; this leaves room for a cold start
FAIL_CLOSED_WITHIN_SECONDS = 4.5


def confirm_event(pool_id: str) -> dict[str, Any]:
    event = make_event(
        "PostConfirmation_ConfirmSignUp", user_name="alice", sub=SUB, email=EMAIL, user_pool_id=pool_id
    )
    event["request"]["userAttributes"].update({"cognito:user_status": "CONFIRMED", "email_verified": "true"})
    return event


def sign_up(code: str) -> dict[str, Any]:
    return handler(
        make_event("PreSignUp_SignUp", user_name="alice", email=EMAIL, metadata={"invitationCode": code}),
        None,
    )


def token_event(sub: str = SUB) -> dict[str, Any]:
    return make_event("TokenGeneration_Authentication", user_name="alice", sub=sub, email=EMAIL)


def groups_of(pool_id: str) -> list[str]:
    answer = client("cognito-idp").admin_list_groups_for_user(UserPoolId=pool_id, Username="alice")
    return [group["GroupName"] for group in answer["Groups"]]


# --- Side effects: SES, Cognito and the CRM misbehaving ------------------------------------------------

SERVICES = {"ses": SideEffectKind.SEND_EMAIL, "cognito-idp": SideEffectKind.COGNITO_ADD_TO_GROUP}


@pytest.fixture
def onboarding(acme, invite, policy, cognito_pool, aws, settings) -> dict[str, Any]:
    """An invited user who passed pre sign-up and exists in the (moto) pool, CRM configured."""
    issued = invite(acme, EMAIL)
    sign_up(issued.code)
    client("cognito-idp").admin_create_user(
        UserPoolId=cognito_pool, Username="alice", UserAttributes=[{"Name": "email", "Value": EMAIL}]
    )
    settings.CRM_WEBHOOK_SECRET = "crm-signing-secret"
    return {"pool": cognito_pool, "company": acme}


def _break_aws(service: str, url: str, settings: Any, moto_url: str) -> None:
    """Point one AWS service at `url` and the others at moto (clients are cached per service)."""
    reset_clients()
    settings.AWS_ENDPOINT_URL = url
    client(service)
    settings.AWS_ENDPOINT_URL = moto_url


def _bad_endpoint(mode: str, fake_service: Any) -> tuple[str, Any]:
    if mode == "down":
        port = closed_port()
        return f"http://127.0.0.1:{port}", port
    service = fake_service(mode=mode, delay=3.0)
    return service.url, service


def _bring_back(target: Any, fake_service: Any) -> Any:
    """The CRM answers again at the same URL (a restarted server on the closed port)."""
    if isinstance(target, int):
        return fake_service(mode="ok", port=target)
    target.mode = "ok"
    return target


def _retry_and_drain() -> dict[str, int]:
    for side_effect in SideEffect.objects.exclude(status=SideEffectStatus.DONE):
        assert side_effect_retry(side_effect=side_effect)
    return side_effects_drain()


# Real commits (transaction=True): the inline attempts run when onboarding commits, inside the
# handler's time budget, as in Lambda.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["down", "slow", "throttle"])
@pytest.mark.parametrize("failing", ["ses", "cognito-idp", "crm"])
def test_post_confirmation_answers_in_time_and_the_outbox_delivers_once_the_service_is_back(
    failing, mode, onboarding, aws, settings, fake_service
):
    crm = fake_service(mode="ok")
    settings.CRM_WEBHOOK_URL = f"{crm.url}/hook"
    bad_url, target = _bad_endpoint(mode, fake_service)
    if failing == "crm":
        settings.CRM_WEBHOOK_URL = f"{bad_url}/hook"
    else:
        _break_aws(failing, bad_url, settings, aws.url)

    started = time.perf_counter()
    answer = handler(confirm_event(onboarding["pool"]), None)
    elapsed = time.perf_counter() - started

    assert answer["response"] == {}
    assert elapsed < ANSWER_WITHIN_SECONDS, f"post confirmation took {elapsed:.2f}s"
    if mode != "down":
        # One call per attempt: no hidden retry inside the trigger (a slow SES may still send).
        assert len(target.requests) == 1
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.company, profile.role.key) == (SUB, onboarding["company"], "USER")
    failing_kind = SideEffectKind.CRM_WEBHOOK if failing == "crm" else SERVICES[failing]
    states = {se.kind: (se.status, se.attempts, se.throttles) for se in SideEffect.objects.all()}
    # SES or Cognito throttling did nothing: counted as a throttle, not as an attempt (never given up).
    waiting = (0, 1) if mode == "throttle" and failing != "crm" else (1, 0)
    assert states == {
        kind: (
            (SideEffectStatus.PENDING, *waiting) if kind == failing_kind else (SideEffectStatus.DONE, 1, 0)
        )
        for kind in (
            SideEffectKind.SEND_EMAIL,
            SideEffectKind.COGNITO_ADD_TO_GROUP,
            SideEffectKind.CRM_WEBHOOK,
        )
    }
    assert SideEffect.objects.get(kind=failing_kind).last_error != ""

    # The service is back.
    if failing == "crm":
        crm = _bring_back(target, fake_service)
    else:
        reset_clients()
    assert _retry_and_drain() == {"done": 1}
    assert side_effects_drain() == {}  # nothing left, nothing run twice

    assert set(SideEffect.objects.values_list("status", flat=True)) == {SideEffectStatus.DONE}
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [[EMAIL]]
    assert groups_of(onboarding["pool"]) == ["USER"]
    delivered = [r for r in crm.requests if r["path"] == "/hook"]
    # A throttling CRM saw the first attempt and refused it; a slow one may have processed it
    # after we gave up: the retry carries the same idempotency key and body, so the receiver
    # can drop the duplicate.
    assert len(delivered) == (2 if failing == "crm" and mode != "down" else 1)
    assert {r["headers"]["Idempotency-Key"] for r in delivered} == {f"onboard:crm:{SUB}"}
    body = delivered[-1]["body"].encode()
    expected = "sha256=" + hmac.new(b"crm-signing-secret", body, hashlib.sha256).hexdigest()
    assert delivered[-1]["headers"]["X-Gatehouse-Signature"] == expected
    assert json.loads(body)["sub"] == SUB


@pytest.mark.django_db(transaction=True)
def test_every_service_slow_at_once_still_answers_in_time(onboarding, aws, settings, fake_service):
    slow = fake_service(mode="slow", delay=3.0)
    settings.CRM_WEBHOOK_URL = f"{slow.url}/hook"
    reset_clients()
    settings.AWS_ENDPOINT_URL = slow.url
    client("ses")
    client("cognito-idp")
    settings.AWS_ENDPOINT_URL = aws.url

    started = time.perf_counter()
    answer = handler(confirm_event(onboarding["pool"]), None)
    elapsed = time.perf_counter() - started

    assert answer["response"] == {}
    assert elapsed < ANSWER_WITHIN_SECONDS, f"post confirmation took {elapsed:.2f}s"
    assert UserProfile.objects.get().company == onboarding["company"]
    # Two timeouts fit in the inline budget; the third effect waits for the queue, untried.
    assert sorted(SideEffect.objects.values_list("kind", "status", "attempts")) == [
        (SideEffectKind.COGNITO_ADD_TO_GROUP, SideEffectStatus.PENDING, 1),
        (SideEffectKind.CRM_WEBHOOK, SideEffectStatus.PENDING, 0),
        (SideEffectKind.SEND_EMAIL, SideEffectStatus.PENDING, 1),
    ]

    reset_clients()
    slow.mode = "ok"
    assert _retry_and_drain() == {"done": 3}
    assert side_effects_drain() == {}
    assert len(aws.ses_messages()) == 1
    assert groups_of(onboarding["pool"]) == ["USER"]


# --- Postgres unreachable or killed ----------------------------------------------------------------------

BLACKHOLE = "10.255.255.1"  # a non-routable address: the connect hangs until connect_timeout


@pytest.fixture
def database_at(monkeypatch):  # type: ignore[no-untyped-def]
    """Point the default connection somewhere else for a block, as a failover or outage would."""

    class Outage:
        def __init__(self) -> None:
            self._ctx: Any = None

        def start(self, host: str, port: str) -> None:
            connection.close()
            self._ctx = monkeypatch.context()
            patch = self._ctx.__enter__()
            patch.setitem(connection.settings_dict, "HOST", host)
            patch.setitem(connection.settings_dict, "PORT", port)

        def end(self) -> None:
            connection.close()
            self._ctx.__exit__(None, None, None)

    return Outage()


def _timed_failure(event: dict[str, Any]) -> tuple[TemporaryFailure, float]:
    started = time.perf_counter()
    with pytest.raises(TemporaryFailure) as caught:
        handler(event, None)
    return caught.value, time.perf_counter() - started


def _assert_generic(error: TemporaryFailure) -> None:
    # What Cognito shows the user: "<Trigger> failed with error <message>."
    assert str(error) == GENERIC
    assert error.args == (GENERIC,)
    for internal in ("Operational", "psycopg", "connection", "127.0.0.1", BLACKHOLE, "5432", "Traceback"):
        assert internal not in str(error)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["closed port", "blackhole"])
def test_without_postgres_sign_up_and_token_generation_fail_closed_and_recover(
    where, acme, invite, policy, database_at, aws
):
    issued = invite(acme, EMAIL)
    UserProfile.objects.create(cognito_sub=SUB, username="alice", email=EMAIL, company=acme)
    host, port = ("127.0.0.1", str(closed_port())) if where == "closed port" else (BLACKHOLE, "5432")

    database_at.start(host, port)
    try:
        sign_up_error, sign_up_seconds = _timed_failure(
            make_event(
                "PreSignUp_SignUp", user_name="alice", email=EMAIL, metadata={"invitationCode": issued.code}
            )
        )
        token_error, token_seconds = _timed_failure(token_event())
    finally:
        database_at.end()

    for error, seconds in ((sign_up_error, sign_up_seconds), (token_error, token_seconds)):
        _assert_generic(error)
        assert seconds < FAIL_CLOSED_WITHIN_SECONDS, f"failed after {seconds:.2f}s"
    # The next invocations reconnect by themselves: no restart, no reload.
    assert sign_up(issued.code)["response"]["autoConfirmUser"] is False
    claims = handler(token_event(), None)["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert claims["custom:companyId"] == str(acme.pk)


class _TableLock:
    """Another session holding an ACCESS EXCLUSIVE lock, so the trigger's next query waits on it."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        holder = connections.create_connection("default")
        try:
            holder.set_autocommit(False)
            with holder.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                self.locked.set()
                self.release.wait(timeout=20)
            holder.rollback()
        finally:
            holder.close()

    def __enter__(self) -> _TableLock:
        self.thread.start()
        assert self.locked.wait(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(timeout=20)


def _waiting_backend(started: float, timeout: float = 5.0) -> int:
    """The pid of the session waiting for a lock (the trigger's), polled from a fresh session."""
    watcher = connections.create_connection("default")
    try:
        with watcher.cursor() as cursor:
            while time.perf_counter() - started < timeout:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
                row = cursor.fetchone()
                if row:
                    return int(row[0])
                time.sleep(0.05)
    finally:
        watcher.close()
    raise AssertionError("the trigger never waited on the lock")


def _invoke_in_thread(
    event: dict[str, Any], then: threading.Event
) -> tuple[threading.Thread, dict[str, Any]]:
    """Two invocations on one worker thread (one Lambda container): the event, then again after `then`."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            started = time.perf_counter()
            try:
                outcome["first"] = handler(json.loads(json.dumps(event)), None)
            except Exception as exc:
                outcome["first"] = exc
            outcome["first_seconds"] = time.perf_counter() - started
            then.wait(timeout=20)
            try:
                outcome["second"] = handler(json.loads(json.dumps(event)), None)
            except Exception as exc:
                outcome["second"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    return thread, outcome


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("family", "table"),
    [("PreSignUp_SignUp", "invites_signuppolicy"), ("TokenGeneration_Authentication", "tenants_userprofile")],
)
def test_a_session_killed_mid_invocation_fails_closed_and_the_next_invocation_recovers(
    family, table, acme, open_policy
):
    UserProfile.objects.create(cognito_sub=SUB, username="alice", email=EMAIL, company=acme)
    event = make_event(family, user_name="alice", sub=SUB, email=EMAIL)
    second_go = threading.Event()
    thread, outcome = _invoke_in_thread(event, second_go)

    with _TableLock(table):
        started = time.perf_counter()
        thread.start()
        victim = _waiting_backend(started)
        killer = connections.create_connection("default")
        try:
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
        finally:
            killer.close()
        while "first" not in outcome and thread.is_alive():
            time.sleep(0.02)
    second_go.set()
    thread.join(timeout=30)

    assert isinstance(outcome["first"], TemporaryFailure)
    _assert_generic(outcome["first"])
    assert outcome["first_seconds"] < FAIL_CLOSED_WITHIN_SECONDS
    assert isinstance(outcome["second"], dict), outcome["second"]
    assert isinstance(outcome["second"]["response"], dict)


@pytest.mark.django_db(transaction=True)
def test_a_lock_nobody_releases_fails_sign_up_closed_at_the_statement_timeout(acme, open_policy):
    event = make_event("PreSignUp_SignUp", user_name="alice", email=EMAIL)
    second_go = threading.Event()
    thread, outcome = _invoke_in_thread(event, second_go)

    with _TableLock("invites_signuppolicy"):
        thread.start()
        while "first" not in outcome and thread.is_alive():
            time.sleep(0.05)
    second_go.set()
    thread.join(timeout=30)

    _assert_generic(outcome["first"])
    assert 2.5 < outcome["first_seconds"] < FAIL_CLOSED_WITHIN_SECONDS  # statement_timeout is 3 s
    assert outcome["second"]["response"]["autoConfirmUser"] is False


@pytest.mark.django_db(transaction=True)
def test_a_user_whose_post_confirmation_failed_entirely_is_onboarded_at_first_sign_in(
    acme, invite, policy, database_at, cognito_pool, aws
):
    issued = invite(acme, EMAIL, role="ADMIN")
    sign_up(issued.code)
    client("cognito-idp").admin_create_user(
        UserPoolId=cognito_pool, Username="alice", UserAttributes=[{"Name": "email", "Value": EMAIL}]
    )

    database_at.start("127.0.0.1", str(closed_port()))
    try:
        answer = handler(confirm_event(cognito_pool), None)
    finally:
        database_at.end()
    assert answer["response"] == {}  # Cognito confirmed the user: they see no error
    assert UserProfile.objects.count() == 0

    # First sign-in: post authentication, then pre token generation (Cognito's order).
    sign_in = make_event(
        "PostAuthentication_Authentication",
        user_name="alice",
        sub=SUB,
        email=EMAIL,
        user_pool_id=cognito_pool,
    )
    assert handler(sign_in, None)["response"] == {}
    token = handler(token_event(), None)["response"]["claimsOverrideDetails"]

    profile = UserProfile.objects.get()
    assert (profile.company, profile.role.key, profile.login_count) == (acme, "ADMIN", 1)
    assert token["claimsToAddOrOverride"]["custom:companyId"] == str(acme.pk)
    assert token["claimsToAddOrOverride"]["custom:role"] == "ADMIN"
    assert token["groupOverrideDetails"] == {"groupsToOverride": ["ADMIN"]}
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [[EMAIL]]
    assert groups_of(cognito_pool) == ["ADMIN"]
