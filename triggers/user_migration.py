"""User migration trigger: a legacy user's first sign-in (or forgotten password) creates them in Cognito.

UserMigration_Authentication checks the password against the imported legacy hash
(tenants.legacy) and answers the user's attributes, email verified, status CONFIRMED
and the welcome message suppressed. UserMigration_ForgotPassword answers the same
attributes without a password, so Cognito can email a reset code to the verified
address. Company and role are not attributes: post confirmation onboards the user
from the legacy record. The password is never logged (the adapter logs no events).
"""

from __future__ import annotations

from typing import Any

from tenants.legacy import LegacyLoginError, legacy_user_authenticate, legacy_user_lookup
from triggers.errors import Rejection, UnknownTrigger
from triggers.events import CognitoEvent
from triggers.lambda_handler import handler_for


def handle(event: CognitoEvent) -> dict[str, Any]:
    try:
        if event.trigger_source == "UserMigration_Authentication":
            identity = legacy_user_authenticate(
                username=event.user_name, password=event.request_string("password")
            )
            return event.respond(
                userAttributes=identity.cognito_attributes(),
                finalUserStatus="CONFIRMED",
                messageAction="SUPPRESS",
                desiredDeliveryMediums=["EMAIL"],
                forceAliasCreation=False,
            )
        if event.trigger_source == "UserMigration_ForgotPassword":
            identity = legacy_user_lookup(username=event.user_name)
            return event.respond(
                userAttributes=identity.cognito_attributes(),
                finalUserStatus=None,
                messageAction="SUPPRESS",
                desiredDeliveryMediums=["EMAIL"],
                forceAliasCreation=False,
            )
    except LegacyLoginError as error:
        raise Rejection(error.public_message, reason=error.reason) from error
    # A migration source AWS adds later must not create users we have not checked.
    raise UnknownTrigger(f"no user migration for {event.trigger_source[:64]!r}")


handler = handler_for("UserMigration")
