"""Pre sign-up: who may create an account, and whether Cognito confirms them at once.

PreSignUp_SignUp (self sign-up), PreSignUp_AdminCreateUser (an operator creates the
user) and PreSignUp_ExternalProvider (first federated sign-in) follow the rules in
docs/triggers.md. A source AWS adds later gets the strictest (self sign-up) rules.
"""

from __future__ import annotations

from typing import Any

from accounts.sign_up import SignupKind, SignupRefused, signup_evaluate
from triggers.errors import Rejection
from triggers.events import INVITATION_CODE_KEYS, CognitoEvent
from triggers.lambda_handler import handler_for

KINDS = {
    "PreSignUp_SignUp": SignupKind.SELF,
    "PreSignUp_AdminCreateUser": SignupKind.ADMIN,
    "PreSignUp_ExternalProvider": SignupKind.FEDERATED,
}


def handle(event: CognitoEvent) -> dict[str, Any]:
    attributes = event.user_attributes
    kind = KINDS.get(event.trigger_source, SignupKind.SELF)
    email = attributes.get("email", "")
    try:
        decision = signup_evaluate(
            kind=kind,
            username=event.user_name,
            email=email,
            employee_id=attributes.get("custom:employeeId"),
            invitation_code=event.client_metadata_value(*INVITATION_CODE_KEYS),
            client_metadata=event.client_metadata,
        )
    except SignupRefused as refused:
        raise Rejection(
            refused.message,
            reason=refused.reason,
            detail=refused.detail,
            record={"email": email, "invitation": refused.invitation, "company": refused.company},
        ) from refused
    if kind == SignupKind.ADMIN:
        # Cognito ignores the flags for AdminCreateUser: answer the response as it came.
        return event.respond()
    return event.respond(
        autoConfirmUser=decision.auto_confirm,
        autoVerifyEmail=decision.auto_verify_email,
        autoVerifyPhone=False,
    )


handler = handler_for("PreSignUp")
