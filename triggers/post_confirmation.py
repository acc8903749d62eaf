"""Post confirmation: onboard a user who has just confirmed their sign-up.

PostConfirmation_ConfirmForgotPassword only resets a password: it must not onboard
again, so it is answered unchanged without touching the database. Every other source
(ConfirmSignUp, and any AWS adds) runs the idempotent onboarding service, so a replay
or a source that reaches an onboarded user changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from accounts.onboarding import profile_onboard
from outbox.runner import inline_budget
from triggers.events import INVITATION_CODE_KEYS, CognitoEvent
from triggers.lambda_handler import handler_for

logger = logging.getLogger("gatehouse.triggers")

NOT_ONBOARDING = frozenset({"PostConfirmation_ConfirmForgotPassword"})


def handle(event: CognitoEvent) -> dict[str, Any]:
    if event.trigger_source in NOT_ONBOARDING:
        return event.respond()
    attributes = event.user_attributes
    if not event.sub:
        # Real events always carry the sub; without it onboarding cannot be idempotent.
        # The user's first sign-in onboards them instead (docs/triggers.md).
        logger.warning("post confirmation without a sub: onboarding left to the first sign-in")
        return event.respond()
    # Side effects run after commit, inside this budget; what does not fit stays queued.
    with inline_budget():
        profile_onboard(
            sub=event.sub,
            username=event.user_name,
            email=event.email,
            user_pool_id=event.user_pool_id,
            given_name=attributes.get("given_name", ""),
            family_name=attributes.get("family_name", ""),
            email_verified=event.email_verified,
            federated=event.federated,
            # clientMetadata is the client's: read leniently, so a NUL or a number there can
            # never stop onboarding (issue 13, item 2). A code is only letters and digits.
            invitation_code=event.client_metadata_lenient(*INVITATION_CODE_KEYS, limit=64),
            # Analytics only: never a source of company, role or permission.
            source=event.client_metadata_lenient("source", "utm_source", limit=100),
            campaign=event.client_metadata_lenient("campaign", "utm_campaign", limit=100),
            referrer=event.client_metadata_lenient("referrer", "utm_referrer", limit=500),
        )
    return event.respond()


handler = handler_for("PostConfirmation")
