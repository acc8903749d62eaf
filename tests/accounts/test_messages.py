"""What the user reads is written for Cognito's frame: "PreSignUp failed with error <message>."."""

from __future__ import annotations

import pytest

from accounts.sign_in import SIGN_IN_MESSAGES
from accounts.sign_up import SIGNUP_MESSAGES
from invites.services import USER_MESSAGES
from tenants.legacy import BAD_PASSWORD, TOO_MANY_ATTEMPTS, USER_NOT_FOUND
from triggers.errors import MalformedEvent, Rejection, TemporaryFailure, UnknownTrigger

MESSAGES = [
    *USER_MESSAGES.values(),
    *SIGNUP_MESSAGES.values(),
    *SIGN_IN_MESSAGES.values(),
    BAD_PASSWORD,
    USER_NOT_FOUND,
    TOO_MANY_ATTEMPTS,
    Rejection.public_message,
    MalformedEvent.public_message,
    UnknownTrigger.public_message,
    TemporaryFailure.public_message,
]


@pytest.mark.parametrize("message", MESSAGES)
def test_no_user_facing_message_ends_with_a_period_cognito_adds_one(message):
    assert message == message.rstrip(". ")
