"""Passwordless sign-in with an emailed code: define, create and verify auth challenge.

The app calls InitiateAuth with AuthFlow CUSTOM_AUTH, then RespondToAuthChallenge with
the code the user received. Cognito drives the session: define says what comes next,
create issues the challenge, verify checks the answer. Domain work is in
accounts.passwordless (login_code_issue, login_code_verify, passwordless_next_step).
"""

from __future__ import annotations

import logging
from typing import Any

from accounts.passwordless import (
    CUSTOM_CHALLENGE,
    ChallengeStep,
    PasswordlessRefused,
    login_code_issue,
    login_code_verify,
    passwordless_next_step,
)
from accounts.trusted_source import trusted_address
from outbox.runner import inline_budget
from triggers.errors import MalformedEvent, Rejection
from triggers.events import CognitoEvent
from triggers.lambda_handler import handler_for

logger = logging.getLogger("gatehouse.triggers")

MAX_SESSION_STEPS = 20  # Cognito caps a session far lower; more is not an event of ours


def _session(event: CognitoEvent) -> list[ChallengeStep]:
    steps = []
    items = event.request_list("session")
    if len(items) > MAX_SESSION_STEPS:
        raise MalformedEvent("request.session is too long")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedEvent(f"request.session[{index}] must be an object")
        name, result, metadata = (
            item.get("challengeName"),
            item.get("challengeResult"),
            item.get("challengeMetadata"),
        )
        if not isinstance(name, str) or not isinstance(result, (bool, type(None))):
            raise MalformedEvent(
                f"request.session[{index}] has no challengeName or a non-boolean challengeResult"
            )
        steps.append(
            ChallengeStep(
                name=name,
                result=bool(result),
                metadata=metadata[:200] if isinstance(metadata, str) else "",
            )
        )
    return steps


def _user_not_found(event: CognitoEvent) -> bool:
    return event.request.get("userNotFound") is True


def _trusted_ip(event: CognitoEvent) -> str:
    # Only RespondToAuthChallenge's ClientMetadata reaches define/create/verify (docs/security.md).
    return trusted_address(metadata=event.client_metadata, email=event.email)


def handle_define(event: CognitoEvent) -> dict[str, Any]:
    decision = passwordless_next_step(
        session=_session(event),
        user_not_found=_user_not_found(event),
        sub=event.sub,
        ip_address=_trusted_ip(event),
    )
    if decision.fail:
        logger.info("passwordless sign-in failed", extra={"reason": decision.reason})
    return event.respond(
        challengeName=decision.challenge_name,
        issueTokens=decision.issue_tokens,
        failAuthentication=decision.fail,
    )


def handle_create(event: CognitoEvent) -> dict[str, Any]:
    challenge = event.request_string("challengeName")
    if challenge != CUSTOM_CHALLENGE:
        raise MalformedEvent(f"create auth challenge for {challenge[:40]!r}, not {CUSTOM_CHALLENGE}")
    if _user_not_found(event):
        # Define fails such sessions first; never email anyone for them.
        raise Rejection("Sign-in failed", reason="user_not_found")
    session = _session(event)
    previous = session[-1].metadata if session and session[-1].name == CUSTOM_CHALLENGE else ""
    attributes = event.user_attributes
    try:
        # The email is sent after commit, inside Cognito's 5 seconds; what does not fit is
        # left to the outbox's queue (the code stays valid for its TTL).
        with inline_budget():
            issued = login_code_issue(
                username=event.user_name,
                sub=event.sub,
                email=attributes.get("email", ""),
                locale=attributes.get("locale", ""),
                previous_metadata=previous,
            )
    except PasswordlessRefused as refused:
        raise Rejection(refused.public_message, reason=refused.reason) from refused
    return event.respond(
        # Shown to the app: where the code went, never the code or the full address.
        publicChallengeParameters={
            "deliveryMedium": "EMAIL",
            "destination": issued.destination,
            "codeLength": str(issued.code_length),
        },
        privateChallengeParameters={"challengeId": issued.challenge_id},
        challengeMetadata=issued.metadata,
    )


def handle_verify(event: CognitoEvent) -> dict[str, Any]:
    private = event.request.get("privateChallengeParameters")
    challenge_id = private.get("challengeId") if isinstance(private, dict) else None
    answer = event.request.get("challengeAnswer")
    correct = (
        not _user_not_found(event)
        and isinstance(challenge_id, str)
        and isinstance(answer, str)
        and login_code_verify(
            challenge_id=challenge_id,
            username=event.user_name,
            answer=answer[:256],
            source=_trusted_ip(event),
        )
    )
    return event.respond(answerCorrect=bool(correct))


define_handler = handler_for("DefineAuthChallenge")
create_handler = handler_for("CreateAuthChallenge")
verify_handler = handler_for("VerifyAuthChallengeResponse")
# One function can serve all three (Cognito passes the family in triggerSource).
handler = handler_for("DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse")
