"""Legacy users at the Cognito user migration trigger: check the password, hand over attributes.

The trigger checks a user's password against the imported hash (tenants.legacy_hashes)
and hands Cognito the user's attributes. Company and role are NOT given here: post
confirmation onboards the migrated user from this record, as it would an invited one.
Never log a password or a hash: users are named by a masked email.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models.functions import Lower

from core.addresses import mask_email, normalize_email
from tenants.legacy_hashes import legacy_password_check, spend_like_a_check
from tenants.models import LegacyHashCost, LegacyUser
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


# The clock and the sleep the padding uses: module attributes so that a test can watch the
# padding being applied without timing anything (tests/triggers/test_user_migration.py).
clock: Callable[[], float] = time.perf_counter
sleep: Callable[[float], None] = time.sleep


def answer_floor() -> float | None:
    """Seconds every user-migration answer takes at least: the slowest imported hash format's
    check (measured at import, tenants.legacy_import); None before any import."""
    return LegacyHashCost.objects.filter(pk=1).values_list("seconds", flat=True).first()


def _pad(started: float, floor: float | None) -> None:
    if floor:
        remaining = floor - (clock() - started)
        if remaining > 0:
            sleep(remaining)


def legacy_user_authenticate(*, username: str, password: str) -> LegacyIdentity:
    """Check a legacy user's password at their first Cognito sign-in (UserMigration_Authentication).

    Every answer (unknown user, wrong password, right password, rate limited) takes at
    least answer_floor(): without it the time told whether the email had a legacy account
    and in which format (unknown ~415 ms, salted MD5 ~5 ms, pbkdf2 ~750 ms: bench/legacy_timing.py).
    """
    started, floor = clock(), answer_floor()
    try:
        return _authenticate(username=username, password=password, padded=floor is not None)
    finally:
        _pad(started, floor)


def legacy_user_lookup(*, username: str) -> LegacyIdentity:
    """A legacy user who forgot their password (UserMigration_ForgotPassword): no password check.

    Cognito then emails a reset code to the verified address we return, so only the
    owner of the mailbox can go on. Padded like legacy_user_authenticate.
    """
    started, floor = clock(), answer_floor()
    try:
        return _lookup(username=username)
    finally:
        _pad(started, floor)


def _authenticate(*, username: str, password: str, padded: bool) -> LegacyIdentity:
    # Every attempt counts against the per-user limit, before the password is looked at,
    # so a locked-out guesser learns nothing more.
    if not _attempt_allowed(username):
        logger.warning("legacy sign-in rate limited", extra={"user": mask_email(username)})
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        if not padded:  # the padding stands in for the work once a floor is measured
            spend_like_a_check(password)
        raise LegacyLoginError(BAD_PASSWORD, reason="user_not_found")
    if not legacy_password_check(password, legacy.password_hash):
        raise LegacyLoginError(BAD_PASSWORD, reason="bad_password")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)


def _lookup(*, username: str) -> LegacyIdentity:
    if not _attempt_allowed(username):
        raise LegacyLoginError(TOO_MANY_ATTEMPTS, reason="rate_limited")
    legacy = _legacy_user_for(username)
    if legacy is None:
        raise LegacyLoginError(USER_NOT_FOUND, reason="user_not_found")
    return LegacyIdentity(normalize_email(legacy.email), legacy.given_name, legacy.family_name)
