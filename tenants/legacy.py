"""Legacy users at the Cognito user migration trigger: check the password, hand over attributes.

The trigger checks a user's password against the imported hash (tenants.legacy_hashes)
and hands Cognito the user's attributes. Company and role are NOT given here: post
confirmation onboards the migrated user from this record, as it would an invited one.
Never log a password or a hash: users are named by a masked email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models.functions import Lower

from core.addresses import mask_email, normalize_email
from tenants.legacy_hashes import legacy_password_check, spend_like_a_check
from tenants.models import LegacyUser
from tenants.ratelimit import rate_limit_hit

logger = logging.getLogger(__name__)


class LegacyLoginError(Exception):
    """Why a legacy user cannot be migrated; `public_message` is what Cognito may show."""

    def __init__(self, public_message: str, *, reason: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.reason = reason


# What Cognito's own example answers: one message for a wrong password and an unknown
# user at sign-in, so that the sign-in form does not reveal who has a legacy account.
BAD_PASSWORD = "Bad password"  # noqa: S105 (a message, not a password)
USER_NOT_FOUND = "User not found"
TOO_MANY_ATTEMPTS = "Too many attempts. Try again later"


@dataclass(frozen=True, slots=True)
class LegacyIdentity:
    email: str
    given_name: str
    family_name: str

    def cognito_attributes(self) -> dict[str, str]:
        """The attributes Cognito creates the user with (no company or role: onboarding gives those)."""
        attributes = {"email": self.email, "email_verified": "true"}
        if self.given_name:
            attributes["given_name"] = self.given_name
        if self.family_name:
            attributes["family_name"] = self.family_name
        return attributes


def _legacy_user_for(username: str) -> LegacyUser | None:
    email = normalize_email(username)
    if "@" not in email:
        return None
    # A record already migrated is spent: a deleted Cognito user does not come back
    # with the old password.
    return (
        LegacyUser.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email, migrated_at__isnull=True)
        .only("email", "given_name", "family_name", "password_hash")
        .first()
    )


def _attempt_allowed(username: str) -> bool:
    return rate_limit_hit(
        scope="user_migration",
        key=normalize_email(username),
        limit=settings.LEGACY_LOGIN_ATTEMPTS_PER_WINDOW,
        window_seconds=settings.LEGACY_LOGIN_WINDOW_SECONDS,
    )


def legacy_user_authenticate(*, username: str, password: str) -> LegacyIdentity:
    """Check a legacy user's password at their first Cognito sign-in (UserMigration_Authentication).

    Every attempt counts against the per-user limit, before the password is looked at,
    so a locked-out guesser learns nothing more.
    """
    if not _attempt_allowed(username):
        logger.warning("legacy sign-in rate limited", extra={"user": mask_email(username)})
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        spend_like_a_check(password)
        raise LegacyLoginError(BAD_PASSWORD, reason="user_not_found")
    if not legacy_password_check(password, legacy.password_hash):
        raise LegacyLoginError(BAD_PASSWORD, reason="bad_password")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)


def legacy_user_lookup(*, username: str) -> LegacyIdentity:
    """A legacy user who forgot their password (UserMigration_ForgotPassword): no password check.

    Cognito then emails a reset code to the verified address we return, so only the
    owner of the mailbox can go on.
    """
    if not _attempt_allowed(username):
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        raise LegacyLoginError(USER_NOT_FOUND, reason="user_not_found")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)
