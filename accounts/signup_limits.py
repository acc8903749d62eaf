"""How many sign-ups pre sign-up lets through: per trusted address, else per email and overall.

Counted only for a sign-up every other rule accepted (accounts.sign_up calls this last), so
junk sent from a victim's address cannot use up the quota the real invitee needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from accounts.trusted_source import canonical_address, trusted_address
from core.addresses import normalize_email
from tenants.ratelimit import rate_limit_hit

SIGNUP_WINDOW_SECONDS = 3600


def signup_limit_exceeded(*, email: str, metadata: Mapping[str, str], per_ip_per_hour: int) -> str:
    """Count this sign-up; return why it is over a limit ("" when it may go on).

    A signed address (accounts.trusted_source) is counted by its canonical form; without
    one, the address the client wrote is ignored and the per-email and global limits count.
    """
    address = trusted_address(metadata=metadata, email=email)
    if address:
        allowed = rate_limit_hit(
            scope="signup_ip",
            key=canonical_address(address),
            limit=per_ip_per_hour,
            window_seconds=SIGNUP_WINDOW_SECONDS,
        )
        return "" if allowed else f"more than {per_ip_per_hour} sign-ups from one address in an hour"
    per_email = settings.SIGNUPS_PER_EMAIL_PER_HOUR
    if not rate_limit_hit(
        scope="signup_email",
        key=normalize_email(email),
        limit=per_email,
        window_seconds=SIGNUP_WINDOW_SECONDS,
    ):
        return f"more than {per_email} sign-ups for one email in an hour (no trusted address)"
    overall = settings.UNTRUSTED_SIGNUPS_PER_HOUR
    if not rate_limit_hit(
        scope="signup_untrusted", key="all", limit=overall, window_seconds=SIGNUP_WINDOW_SECONDS
    ):
        return f"more than {overall} sign-ups without a trusted address in an hour"
    return ""
