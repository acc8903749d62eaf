"""Pre authentication (who may sign in) and post authentication (what a sign-in records).

Pre authentication refuses suspended users, users of suspended companies and sign-ins from
outside a company's IP allowlist. The address counts only when the app's backend signed it
(accounts.trusted_source) in InitiateAuth's ClientMetadata, which Cognito passes to this
trigger as validationData: Cognito never tells a trigger the caller's address, and a browser
can write any metadata (docs/security.md, "Trust model").

Post authentication is best-effort: accounts.sign_in.profile_record_sign_in logs and swallows
its own failures, because Cognito has already accepted the password and a failed analytics
write must not turn into a failed sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.sign_in import SignInRefused, profile_record_sign_in, sign_in_check
from accounts.trusted_source import trusted_address
from triggers.errors import MalformedEvent, Rejection
from triggers.events import CognitoEvent, email_verified_in, federated_in
from triggers.lambda_handler import handler_for

DEVICE_KEY_KEY = "deviceKey"
USER_AGENT_KEY = "userAgent"


def caller_ip(event: CognitoEvent) -> str:
    """The address a trusted backend signed: validationData first (InitiateAuth's ClientMetadata)."""
    for source in (event.validation_data, event.client_metadata):
        address = trusted_address(metadata=source, email=event.email)
        if address:
            return address
    return ""


def handle_pre_authentication(event: CognitoEvent) -> dict[str, Any]:
    if event.request.get("userNotFound") in (True, "true"):
        # Cognito will fail this sign-in itself; there is no user to apply rules to.
        return event.respond()
    try:
        sign_in_check(sub=event.sub, ip_address=caller_ip(event))
    except SignInRefused as refused:
        raise Rejection(
            refused.message,
            reason=refused.reason,
            detail=f"pre authentication refused: {refused.reason}",
            record={"email": event.email, "company": refused.company},
        ) from refused
    return event.respond()


def _lenient(read: Callable[[], dict[str, str]]) -> dict[str, str]:
    # Post authentication never blocks a sign-in Cognito accepted, not even for a bad shape:
    # the service then logs that it had no sub to record.
    try:
        return read()
    except MalformedEvent:
        return {}


def handle_post_authentication(event: CognitoEvent) -> dict[str, Any]:
    attributes = _lenient(lambda: event.user_attributes)
    metadata = _lenient(lambda: event.client_metadata)
    new_device = event.request.get("newDeviceUsed")
    profile_record_sign_in(
        sub=attributes.get("sub", ""),
        username=event.user_name,
        email=attributes.get("email", ""),
        email_verified=email_verified_in(attributes),
        federated=federated_in(attributes),
        user_pool_id=event.user_pool_id,
        given_name=attributes.get("given_name", ""),
        family_name=attributes.get("family_name", ""),
        client_id=event.client_id,
        trigger_source=event.trigger_source,
        new_device_used=new_device is True or new_device == "true",
        device_key=metadata.get(DEVICE_KEY_KEY, "").strip(),
        user_agent=metadata.get(USER_AGENT_KEY, "").strip(),
    )
    return event.respond()


pre_authentication_handler = handler_for("PreAuthentication")
post_authentication_handler = handler_for("PostAuthentication")
handler = handler_for("PreAuthentication", "PostAuthentication")
