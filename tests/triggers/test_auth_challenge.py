"""Passwordless sign-in: the define / create / verify sequence, session by session.

Each test drives the Lambda entry point the way Cognito does: define with the session
so far, create for a CUSTOM_CHALLENGE, verify with the private parameters create
returned. Emails go through the outbox to moto's SES; the code is read from there.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import LoginCode
from outbox.models import SideEffect
from tenants.models import EmailTemplate, Status, UserProfile
from tests.triggers.helpers import make_event, reference_named
from triggers.errors import MalformedEvent, Rejection
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

SUB = "7a1b2c3d-0000-4000-8000-000000000001"
USERNAME = SUB
EMAIL = "alice@acme.com"


def step(result: bool, metadata: str = "") -> dict[str, Any]:
    return {"challengeName": "CUSTOM_CHALLENGE", "challengeResult": result, "challengeMetadata": metadata}


def define(session: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    event = make_event("DefineAuthChallenge_Authentication", sub=SUB, user_name=USERNAME, **kwargs)
    event["request"]["session"] = session
    event["request"]["userNotFound"] = False
    return handler(event, None)["response"]


def create(session: list[dict[str, Any]], *, email: str = EMAIL, **kwargs: Any) -> dict[str, Any]:
    event = make_event(
        "CreateAuthChallenge_Authentication", sub=SUB, user_name=USERNAME, email=email, **kwargs
    )
    event["request"].update(challengeName="CUSTOM_CHALLENGE", session=session, userNotFound=False)
    return handler(event, None)["response"]


def verify(private: dict[str, str], answer: Any) -> bool:
    event = make_event("VerifyAuthChallengeResponse_Authentication", sub=SUB, user_name=USERNAME)
    event["request"].update(privateChallengeParameters=private, challengeAnswer=answer, userNotFound=False)
    return handler(event, None)["response"]["answerCorrect"]


def emailed_codes(aws: Any) -> list[str]:
    codes = []
    for message in aws.ses_messages():
        found = re.findall(r"(?<![\d#])(\d{6})(?![\d])", message.body)
        assert found, "the email carries no code"
        codes.append(found[0])
    return codes


@pytest.fixture
def send(aws: Any, django_capture_on_commit_callbacks: Any):  # type: ignore[no-untyped-def]
    """create() with the outbox's after-commit send run, returning (response, emailed code)."""

    def run(session: list[dict[str, Any]], **kwargs: Any) -> tuple[dict[str, Any], str | None]:
        before = len(aws.ses_messages())
        with django_capture_on_commit_callbacks(execute=True):
            response = create(session, **kwargs)
        codes = emailed_codes(aws)
        return response, (codes[-1] if len(codes) > before else None)

    return run


def test_right_code_signs_in(send: Any, aws: Any) -> None:
    assert define([]) == {
        "challengeName": "CUSTOM_CHALLENGE",
        "issueTokens": False,
        "failAuthentication": False,
    }

    created, code = send([])

    assert code is not None
    assert len(code) == 6
    assert created["publicChallengeParameters"] == {
        "deliveryMedium": "EMAIL",
        "destination": "a***@acme.com",
        "codeLength": "6",
    }
    challenge_id = created["privateChallengeParameters"]["challengeId"]
    assert created["privateChallengeParameters"] == {"challengeId": challenge_id}
    assert created["challengeMetadata"] == f"LOGIN_CODE:{challenge_id}"
    assert code not in str(created)  # the code travels by email only
    message = aws.ses_messages()[0]
    assert message.destinations["ToAddresses"] == [EMAIL]
    assert "sign-in code" in message.subject
    row = LoginCode.objects.get(pk=challenge_id)
    assert code not in row.code_hash
    assert len(row.code_hash) == 64
    assert row.expires_at - row.created_at == pytest.approx(timedelta(seconds=300), abs=timedelta(seconds=2))

    assert verify(created["privateChallengeParameters"], code) is True
    assert define([step(True, created["challengeMetadata"])]) == {
        "challengeName": None,
        "issueTokens": True,
        "failAuthentication": False,
    }
    row.refresh_from_db()
    assert row.used_at is not None
    assert row.attempts == 0


def test_wrong_then_right_keeps_the_same_code_and_sends_one_email(send: Any, aws: Any) -> None:
    created, code = send([])
    wrong = "000000" if code != "000000" else "111111"

    assert verify(created["privateChallengeParameters"], wrong) is False
    session = [step(False, created["challengeMetadata"])]
    assert define(session)["challengeName"] == "CUSTOM_CHALLENGE"
    again, second_code = send(session)

    assert second_code is None  # a retry sends no new email
    assert again["privateChallengeParameters"] == created["privateChallengeParameters"]
    assert again["challengeMetadata"] == created["challengeMetadata"]
    assert verify(again["privateChallengeParameters"], code) is True
    assert define([*session, step(True, again["challengeMetadata"])])["issueTokens"] is True
    assert len(aws.ses_messages()) == 1
    assert LoginCode.objects.get().attempts == 1


def test_three_wrong_answers_fail_the_session_and_the_code(send: Any, settings: Any) -> None:
    assert settings.LOGIN_CODE_MAX_ATTEMPTS == 3
    created, code = send([])
    wrong = "000000" if code != "000000" else "111111"
    session: list[dict[str, Any]] = []
    for attempt in range(3):
        assert verify(created["privateChallengeParameters"], wrong) is False
        session.append(step(False, created["challengeMetadata"]))
        decision = define(session)
        if attempt < 2:
            assert decision["challengeName"] == "CUSTOM_CHALLENGE"
            send(session)

    assert decision == {"challengeName": None, "issueTokens": False, "failAuthentication": True}
    # Even if Cognito asked again, the code itself is spent.
    assert verify(created["privateChallengeParameters"], code) is False
    assert LoginCode.objects.get().attempts == 3


def test_an_expired_code_is_wrong_and_a_retry_gets_a_new_one(send: Any, aws: Any) -> None:
    created, code = send([])
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert verify(created["privateChallengeParameters"], code) is False
    session = [step(False, created["challengeMetadata"])]
    again, new_code = send(session)

    assert again["privateChallengeParameters"] != created["privateChallengeParameters"]
    assert new_code is not None
    assert verify(again["privateChallengeParameters"], new_code) is True


def test_a_replayed_code_fails(send: Any) -> None:
    first, first_code = send([])
    assert verify(first["privateChallengeParameters"], first_code) is True

    # The same answer again (a replayed RespondToAuthChallenge, a retried Lambda): used up.
    assert verify(first["privateChallengeParameters"], first_code) is False
    # The old code in a new session: that session has its own code.
    second, second_code = send([])
    if second_code != first_code:
        assert verify(second["privateChallengeParameters"], first_code) is False
    assert verify(second["privateChallengeParameters"], second_code) is True


def test_codes_per_user_are_rate_limited_in_postgres(send: Any, aws: Any, settings: Any) -> None:
    settings.LOGIN_CODES_PER_WINDOW = 2
    settings.LOGIN_CODE_REUSE_SECONDS = 0  # each request a new code, to reach the cap
    send([])
    send([])

    with pytest.raises(Rejection) as refused:
        send([])

    assert refused.value.public_message == "Too many sign-in codes requested. Please wait a few minutes"
    assert refused.value.reason == "rate_limited"
    assert LoginCode.objects.count() == 2
    assert SideEffect.objects.count() == 2
    assert len(aws.ses_messages()) == 2


@pytest.mark.parametrize(
    "answer",
    ["", "   ", "12345", "1234567", "abcdef", "12345a", "١٢٣٤٥٦", "1" * 3000, None, 123456, ["123456"]],
)
def test_malformed_answers_are_wrong_answers_not_errors(send: Any, answer: Any) -> None:
    created, _ = send([])

    assert verify(created["privateChallengeParameters"], answer) is False


def test_surrounding_spaces_are_forgiven(send: Any) -> None:
    created, code = send([])

    assert verify(created["privateChallengeParameters"], f" {code}\n") is True


def test_a_code_is_bound_to_its_user(send: Any) -> None:
    created, code = send([])
    event = make_event("VerifyAuthChallengeResponse_Authentication", sub="other", user_name="someone-else")
    event["request"].update(
        privateChallengeParameters=created["privateChallengeParameters"], challengeAnswer=code
    )

    assert handler(event, None)["response"]["answerCorrect"] is False
    assert verify(created["privateChallengeParameters"], code) is True


def test_unknown_users_fail_cleanly_and_get_no_email(
    aws: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = make_event("DefineAuthChallenge_Authentication", sub=SUB)
    event["request"].update(session=[], userNotFound=True)
    assert handler(event, None)["response"]["failAuthentication"] is True

    create_event = make_event("CreateAuthChallenge_Authentication", sub=SUB)
    create_event["request"].update(challengeName="CUSTOM_CHALLENGE", session=[], userNotFound=True)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rejection):
        handler(create_event, None)
    assert aws.ses_messages() == []
    assert LoginCode.objects.count() == 0


def _profile(**fields: Any) -> UserProfile:
    return UserProfile.objects.create(cognito_sub=SUB, username=USERNAME, email=EMAIL, **fields)


def test_a_suspended_user_fails_even_after_a_right_answer(send: Any) -> None:
    profile = _profile()
    created, code = send([])
    assert verify(created["privateChallengeParameters"], code) is True
    profile.status = Status.SUSPENDED
    profile.save()

    assert define([step(True)]) == {"challengeName": None, "issueTokens": False, "failAuthentication": True}
    assert define([])["failAuthentication"] is True


def test_a_suspended_company_fails(acme: Any) -> None:
    _profile(company=acme)
    acme.status = Status.SUSPENDED
    acme.save()

    assert define([])["failAuthentication"] is True


def test_password_or_srp_steps_are_not_part_of_this_flow() -> None:
    session = [{"challengeName": "SRP_A", "challengeResult": True, "challengeMetadata": None}]

    assert define(session)["failAuthentication"] is True


def test_the_email_uses_the_language_and_company_branding(send: Any, aws: Any, acme: Any) -> None:
    acme.brand_display_name = "Acme Rockets"
    acme.brand_sender_name = "Acme Security"
    acme.save()
    _profile(company=acme, preferences={"language": "de"})
    EmailTemplate.objects.create(
        key="login_code",
        language="de",
        company=acme,
        subject="Ihr Anmeldecode für {{ company.display_name }}",
        html_body="<p>Code: {{ code }}</p>",
        text_body="Code: {{ code }}",
    )

    _, code = send([])

    message = aws.ses_messages()[0]
    assert message.subject == "Ihr Anmeldecode für Acme Rockets"
    assert f"Code: {code}" in message.body
    assert message.source == '"Acme Security" <no-reply@gatehouse.test>'


def test_a_staff_template_without_the_code_falls_back_to_the_default(
    send: Any, aws: Any, caplog: Any
) -> None:
    # Inserted directly: the admin refuses it (tests/triggers/test_custom_message.py).
    EmailTemplate.objects.create(
        key="login_code", language="en", subject="Sign in", html_body="<p>Hello</p>", text_body="Hello"
    )

    with caplog.at_level(logging.WARNING):
        _, code = send([])

    assert code is not None
    assert aws.ses_messages()[0].subject == "Your Gatehouse sign-in code"
    [record] = [r for r in caplog.records if r.getMessage() == "email template unusable, using the default"]
    assert record.template_key == "login_code"
    assert record.problems == ["html_body lacks the code placeholder", "text_body lacks the code placeholder"]


def test_the_code_is_never_logged(send: Any, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG):
        created, code = send([])
        verify(created["privateChallengeParameters"], "000000" if code != "000000" else "111111")
        verify(created["privateChallengeParameters"], code)

    assert code is not None
    for record in caplog.records:
        assert code not in record.getMessage()
        assert code not in str(record.__dict__)


def test_define_and_verify_cost_few_queries(send: Any, django_assert_num_queries: Any) -> None:
    created, code = send([])
    with django_assert_num_queries(1):
        define([])
    # Savepoint, count the attempt (UPDATE ... RETURNING the hash), use the code, release.
    with django_assert_num_queries(4):
        verify(created["privateChallengeParameters"], code)


def test_create_costs_a_fixed_number_of_queries(aws: Any, django_assert_num_queries: Any) -> None:
    # An open code younger than LOGIN_CODE_REUSE_SECONDS, rate limit upsert, profile,
    # template; then code, outbox row (INSERT ... ON CONFLICT)
    # and its task, inside a savepoint and its release (the test's transaction makes them so;
    # in Lambda they are BEGIN and COMMIT).
    with django_assert_num_queries(9):
        create([])


# --- The reference events ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "aws-lambda-dotnet__cognito-defineauthchallenge-event.json",
        "aws-lambda-dotnet__cognito-defineauthchallenge-event-with-null-values.json",
        "aws-lambda-go__cognito-event-userpools-define-auth-challenge.json",
        "powertools-python__cognitoDefineAuthChallengeEvent.json",
    ],
)
def test_reference_define_events_fail_cleanly(name: str) -> None:
    # userNotFound, made-up challenge names or a PASSWORD_VERIFIER step: none is our flow.
    response = handler(reference_named(name), None)["response"]

    assert response == {"challengeName": None, "issueTokens": False, "failAuthentication": True}


@pytest.mark.parametrize(
    "name",
    [
        "aws-lambda-dotnet__cognito-verifyauthchallenge-event.json",
        "aws-lambda-dotnet__cognito-verifyauthchallenge-event-with-null-values.json",
        "aws-lambda-go__cognito-event-userpools-verify-auth-challenge.json",
        "powertools-python__cognitoVerifyAuthChallengeResponseEvent.json",
    ],
)
def test_reference_verify_events_are_wrong_answers(name: str) -> None:
    assert handler(reference_named(name), None)["response"]["answerCorrect"] is False


def test_reference_create_events_are_refused_cleanly(aws: Any) -> None:
    # aws-lambda-go: a phone-only user after a password step (no email to send to).
    with pytest.raises(Rejection):
        handler(reference_named("aws-lambda-go__cognito-event-userpools-create-auth-challenge.json"), None)
    # aws-lambda-dotnet: challengeName "challenge" is not one a Lambda creates.
    with pytest.raises(MalformedEvent):
        handler(reference_named("aws-lambda-dotnet__cognito-createauthchallenge-event.json"), None)
    # powertools: a PASSWORD_VERIFIER challenge is Cognito's, never created by a Lambda.
    with pytest.raises(MalformedEvent):
        handler(reference_named("powertools-python__cognitoCreateAuthChallengeEvent.json"), None)
    assert LoginCode.objects.count() == 0


def test_expired_codes_are_pruned(send: Any, settings: Any) -> None:
    from accounts.passwordless import login_codes_prune

    settings.LOGIN_CODE_REUSE_SECONDS = 0
    send([])
    send([])
    LoginCode.objects.filter(pk=LoginCode.objects.order_by("created_at")[0].pk).update(
        expires_at=timezone.now() - timedelta(days=2)
    )

    assert login_codes_prune() == 1
    assert LoginCode.objects.count() == 1
