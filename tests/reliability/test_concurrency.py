"""Races on real Postgres: real threads, one connection each, through the real Lambda handler.

Every test commits for real (transaction=True), so each thread sees the others' writes only
through the database, as concurrent Lambda invocations do.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import LoginCode
from invites.models import Invitation, SignupRefusal
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from tenants.legacy_import import legacy_users_import
from tenants.models import ActivityEvent, Company, RateLimitCounter, UserProfile
from tenants.ratelimit import rate_limit_hit
from tests.reliability.conftest import run_concurrently
from tests.tenants.legacy_csv import legacy_users_csv
from tests.triggers.helpers import TRUSTED_SECRET, make_event, signed_address
from triggers.errors import Rejection
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "alice@acme.com"


@pytest.fixture(autouse=True)
def no_untrusted_limits(settings):
    # These tests race sign-ups (many for one address) on purpose: what they test is single
    # use and seats, not the limits for unsigned sign-ups (tests/accounts/test_trusted_source.py),
    # whose one global counter row would also serialize the racers and change the race.
    settings.SIGNUPS_PER_EMAIL_PER_HOUR = 0
    settings.UNTRUSTED_SIGNUPS_PER_HOUR = 0


USED = "This invitation has already been used"


def sign_up(*, user_name: str, email: str, code: str = "", ip: str = "") -> dict[str, Any]:
    metadata = {}
    if code:
        metadata["invitationCode"] = code
    if ip:
        metadata.update(signed_address(ip, email))
    event = make_event("PreSignUp_SignUp", user_name=user_name, email=email, metadata=metadata or None)
    return handler(event, None)


def confirm(
    *, user_name: str, sub: str, email: str, pool_id: str = "us-east-1_TESTPOOL", code: str = ""
) -> dict[str, Any]:
    event = make_event(
        "PostConfirmation_ConfirmSignUp",
        user_name=user_name,
        sub=sub,
        email=email,
        user_pool_id=pool_id,
        metadata={"invitationCode": code} if code else None,
    )
    event["request"]["userAttributes"].update({"cognito:user_status": "CONFIRMED", "email_verified": "true"})
    return handler(event, None)


def sub_for(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def rejections(results: list[Any]) -> list[str]:
    return [str(r) for r in results if isinstance(r, Rejection)]


def unexpected(results: list[Any]) -> list[Any]:
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, Rejection)]


# --- Invitations and seats ---------------------------------------------------------------------------


def test_twenty_sign_ups_with_one_invitation_let_exactly_one_user_in(acme, invite, policy, aws):
    issued = invite(acme, EMAIL, role="ADMIN")

    def sign_up_and_confirm(i: int) -> str:
        sign_up(user_name=f"user-{i}", email=EMAIL, code=issued.code)
        # Cognito confirms only a user whose pre sign-up passed; the app sends the code again.
        confirm(user_name=f"user-{i}", sub=sub_for(i), email=EMAIL, code=issued.code)
        return f"user-{i}"

    results = run_concurrently(20, sign_up_and_confirm)

    assert unexpected(results) == []
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert rejections(results) == [USED] * 19
    invitation = Invitation.objects.get()
    assert invitation.reserved_for_username == winners[0]
    profile = UserProfile.objects.get()
    assert (profile.username, profile.company, profile.role.key) == (winners[0], acme, "ADMIN")
    assert invitation.accepted_by == profile
    assert sorted(SignupRefusal.objects.values_list("reason", flat=True)) == ["invitation_used"] * 19


def test_confirmations_carrying_a_reserved_code_cannot_take_the_invitation(acme, invite, open_policy, aws):
    # The sign-up policy is open, so twenty users could sign up without the code; all send
    # the code at confirmation (clientMetadata is the client's). The invitation is reserved
    # for the one whose pre sign-up presented it: only that user may join through it.
    issued = invite(acme, EMAIL, role="ADMIN")
    sign_up(user_name="user-0", email=EMAIL, code=issued.code)
    for i in range(1, 20):
        sign_up(user_name=f"user-{i}", email=EMAIL)

    results = run_concurrently(
        20, lambda i: confirm(user_name=f"user-{i}", sub=sub_for(i), email=EMAIL, code=issued.code)
    )

    assert unexpected(results) == []
    assert [r["response"] for r in results] == [{}] * 20
    assert UserProfile.objects.count() == 20
    members = UserProfile.objects.filter(company=acme)
    assert [p.username for p in members] == ["user-0"]
    assert Invitation.objects.get().accepted_by.username == "user-0"


def test_refusals_recorded_while_the_invitation_is_accepted_do_not_deadlock(acme, invite, policy):
    # The refused sign-ups of a code are recorded (SignupRefusal: foreign keys to the company
    # and the invitation, so FOR KEY SHARE row locks on both) while the winner's confirmation
    # accepts it (row locks on the invitation, then the company). With FOR UPDATE locks the
    # two waited on each other and Postgres killed one: seen in a full-suite run, made
    # deterministic here. Accepting takes NO KEY UPDATE locks now, which key shares pass.
    from invites.models import RefusalReason
    from invites.services import invitation_accept, refusal_record

    issued = invite(acme, EMAIL)
    profile = UserProfile.objects.create(cognito_sub=sub_for(1), username="alice", email=EMAIL)
    company_shared, accepting = threading.Event(), threading.Event()

    def refusals(i: int) -> str:
        with transaction.atomic():
            # Django's foreign keys are checked at commit; checked now, the window in which
            # the real race struck (between the two checks of one insert) stays open.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            refusal_record(trigger_source="PreSignUp_SignUp", reason=RefusalReason.COMPANY_FULL, company=acme)
            company_shared.set()
            assert accepting.wait(timeout=10)
            time.sleep(0.3)  # the acceptance reaches its company lock meanwhile
            refusal_record(
                trigger_source="PreSignUp_SignUp",
                reason=RefusalReason.INVITATION_USED,
                email=EMAIL,
                invitation=issued.invitation,
            )
        return "recorded"

    def accept(i: int) -> str:
        assert company_shared.wait(timeout=10)
        accepting.set()
        with transaction.atomic():
            invitation_accept(invitation=issued.invitation, profile=profile)
        return "accepted"

    started = time.perf_counter()
    results = run_concurrently(2, lambda i: (refusals if i == 0 else accept)(i))

    assert results == ["recorded", "accepted"]
    assert time.perf_counter() - started < 3.0
    assert SignupRefusal.objects.count() == 2
    assert Invitation.objects.get().accepted_by == profile


def test_one_free_seat_and_ten_concurrent_joins_seat_exactly_one(acme, invite, policy, aws):
    Company.objects.filter(pk=acme.pk).update(seat_limit=1)
    codes = [invite(acme, f"user{i}@acme.com").code for i in range(10)]

    def join(i: int) -> Any:
        sign_up(user_name=f"user-{i}", email=f"user{i}@acme.com", code=codes[i])
        return confirm(user_name=f"user-{i}", sub=sub_for(i), email=f"user{i}@acme.com")

    results = run_concurrently(10, join)

    assert unexpected(results) == []
    assert rejections(results) == []  # pre sign-up saw a free seat for everyone; onboarding decides
    assert UserProfile.objects.count() == 10
    assert UserProfile.objects.filter(company=acme).count() == 1
    assert Invitation.objects.filter(accepted_at__isnull=False).count() == 1
    full = SignupRefusal.objects.filter(reason="company_full", trigger_source="onboarding")
    assert full.count() == 9
    # The nine others are onboarded without a company (and told staff why), never half-joined.
    assert UserProfile.objects.filter(company__isnull=True, role__isnull=True).count() == 9


def test_the_same_confirmation_delivered_three_times_at_once_onboards_once(
    acme, invite, policy, cognito_pool, aws
):
    from outbox.aws import client

    issued = invite(acme, EMAIL)
    sign_up(user_name="alice", email=EMAIL, code=issued.code)
    client("cognito-idp").admin_create_user(
        UserPoolId=cognito_pool, Username="alice", UserAttributes=[{"Name": "email", "Value": EMAIL}]
    )
    event = make_event(
        "PostConfirmation_ConfirmSignUp",
        user_name="alice",
        sub=sub_for(1),
        email=EMAIL,
        user_pool_id=cognito_pool,
    )

    results = run_concurrently(3, lambda i: handler(json.loads(json.dumps(event)), None))

    assert [r["response"] for r in results] == [{}, {}, {}]
    assert UserProfile.objects.count() == 1
    assert ActivityEvent.objects.filter(kind="sign_up").count() == 1
    assert sorted(SideEffect.objects.values_list("kind", "status")) == [
        (SideEffectKind.COGNITO_ADD_TO_GROUP, SideEffectStatus.DONE),
        (SideEffectKind.SEND_EMAIL, SideEffectStatus.DONE),
    ]
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [[EMAIL]]
    groups = client("cognito-idp").admin_list_groups_for_user(UserPoolId=cognito_pool, Username="alice")
    assert [g["GroupName"] for g in groups["Groups"]] == ["USER"]


# --- Limits ----------------------------------------------------------------------------------------


def test_a_rate_limit_lets_exactly_its_limit_through_under_contention(db):
    results = run_concurrently(
        20, lambda i: rate_limit_hit(scope="test", key="203.0.113.9", limit=5, window_seconds=3600)
    )

    assert results.count(True) == 5
    assert results.count(False) == 15
    assert RateLimitCounter.objects.get(scope="test").count == 20


def test_sign_ups_per_address_hold_under_concurrency(open_policy, settings):
    settings.TRUSTED_BACKEND_SECRET = TRUSTED_SECRET
    open_policy.signups_per_ip_per_hour = 3
    open_policy.save()

    results = run_concurrently(
        10, lambda i: sign_up(user_name=f"user-{i}", email=f"user{i}@example.org", ip="203.0.113.9")
    )

    assert unexpected(results) == []
    assert sum(isinstance(r, dict) for r in results) == 3
    assert rejections(results) == ["Too many sign-ups from your network. Please try again later"] * 7


def _create_challenge(user_name: str, sub: str, email: str) -> dict[str, Any]:
    event = make_event("CreateAuthChallenge_Authentication", sub=sub, user_name=user_name, email=email)
    event["request"].update(challengeName="CUSTOM_CHALLENGE", session=[], userNotFound=False)
    return handler(event, None)


def _verify(user_name: str, sub: str, challenge_id: str, answer: str) -> bool:
    event = make_event("VerifyAuthChallengeResponse_Authentication", sub=sub, user_name=user_name)
    event["request"].update(
        privateChallengeParameters={"challengeId": challenge_id}, challengeAnswer=answer, userNotFound=False
    )
    return handler(event, None)["response"]["answerCorrect"]


def test_passwordless_code_sends_hold_their_limit_under_concurrency(db, aws, settings, log_secrets):
    settings.LOGIN_CODES_PER_WINDOW = 5
    settings.LOGIN_CODE_REUSE_SECONDS = 0  # every request a new code: the cap is what races here

    results = run_concurrently(12, lambda i: _create_challenge("alice", sub_for(1), EMAIL))

    assert unexpected(results) == []
    assert sum(isinstance(r, dict) for r in results) == 5
    assert rejections(results) == ["Too many sign-in codes requested. Please wait a few minutes"] * 7
    assert LoginCode.objects.count() == 5
    sent = aws.ses_messages()
    assert len(sent) == 5
    log_secrets.add(*(re.findall(r"(?<![\d#])\d{6}(?!\d)", m.body)[0] for m in sent))


def test_wrong_answers_at_once_spend_exactly_the_allowed_attempts(db, aws, settings, log_secrets):
    challenge = _create_challenge("alice", sub_for(1), EMAIL)["response"]
    challenge_id = challenge["privateChallengeParameters"]["challengeId"]
    (message,) = aws.ses_messages()
    code = re.findall(r"(?<![\d#])\d{6}(?!\d)", message.body)[0]
    log_secrets.add(code)
    wrong = "000000" if code != "000000" else "111111"

    results = run_concurrently(10, lambda i: _verify("alice", sub_for(1), challenge_id, wrong))

    assert results == [False] * 10
    assert LoginCode.objects.get().attempts == settings.LOGIN_CODE_MAX_ATTEMPTS
    # Spent: the right code no longer works either.
    assert _verify("alice", sub_for(1), challenge_id, code) is False


def test_a_right_code_answered_five_times_at_once_signs_in_once(db, aws, log_secrets):
    challenge = _create_challenge("alice", sub_for(1), EMAIL)["response"]
    challenge_id = challenge["privateChallengeParameters"]["challengeId"]
    code = re.findall(r"(?<![\d#])\d{6}(?!\d)", aws.ses_messages()[0].body)[0]
    log_secrets.add(code)

    results = run_concurrently(5, lambda i: _verify("alice", sub_for(1), challenge_id, code))

    assert sorted(results) == [False, False, False, False, True]
    assert LoginCode.objects.get().used_at is not None


def test_migration_password_attempts_hold_their_limit_under_concurrency(db, settings, log_secrets):
    settings.LEGACY_LOGIN_ATTEMPTS_PER_WINDOW = 5
    password = "legacy-password-42"
    log_secrets.add(password, "wrong-password-7")
    digest = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 (the legacy format under test)
    report = legacy_users_import(
        text=legacy_users_csv(
            [{"email": EMAIL, "given_name": "A", "family_name": "B", "password_hash": digest}]
        )
    )
    assert report.ok

    def attempt(i: int) -> Any:
        event = make_event("UserMigration_Authentication", email=None, user_name=EMAIL)
        event["request"] = {"password": "wrong-password-7", "validationData": {}}
        return handler(event, None)

    results = run_concurrently(12, attempt)

    assert unexpected(results) == []
    assert sorted(rejections(results)) == ["Bad password"] * 5 + ["Too many attempts. Try again later"] * 7
    right = make_event("UserMigration_Authentication", email=None, user_name=EMAIL)
    right["request"] = {"password": password, "validationData": {}}
    with pytest.raises(Rejection, match="Too many attempts"):
        handler(right, None)
