"""The sign-in check (pre authentication) and the record of a sign-in (post authentication)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.onboarding import email_proved, profile_join_by_email, profile_onboard
from core.addresses import normalize_email
from invites.models import RefusalReason
from tenants.models import ActivityEvent, ActivityKind, Company, UserProfile
from tenants.ratelimit import stable_hash
from tenants.selectors import sign_in_subject

logger = logging.getLogger(__name__)


class SignInRefused(Exception):
    """A sign-in rule the user broke. `message` is safe to show; `reason` is a RefusalReason value."""

    def __init__(self, reason: str, message: str, *, company: Company | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.company = company


SIGN_IN_MESSAGES = {
    "user_suspended": "Your account is suspended. Contact your administrator",
    "company_suspended": "Your company's account is suspended. Contact your administrator",
    "ip_not_allowed": "Your company does not allow sign-in from this network",
}


def ip_in_allowlist(*, allowlist: list[str], address: str) -> bool:
    """True when `address` (IPv4 or IPv6, IPv4-mapped IPv6 unwrapped) is inside one of the CIDRs."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for block in allowlist:
        try:
            network = ipaddress.ip_network(block.strip(), strict=False)
        except ValueError:
            logger.warning("invalid CIDR in a company allowlist ignored", extra={"cidr": block[:64]})
            continue
        if ip.version == network.version and ip in network:
            return True
    return False


def sign_in_check(*, sub: str, ip_address: str = "", enforce_allowlist: bool = True) -> None:
    """Raise SignInRefused when this user may not sign in now; return quietly otherwise.

    Read fresh on every sign-in (no cache), so a suspension stops the next sign-in. A sub
    without a profile passes: there is no rule to apply until onboarding (first sign-in's
    post authentication) gives it a company. `ip_address` must be the trusted address
    (accounts.trusted_source: signed by the app's backend), never one the client wrote;
    without it a company with an allowlist refuses. `enforce_allowlist=False` checks only
    suspension (define auth challenge before the last step, which carries no metadata).
    """
    subject = sign_in_subject(sub=sub)
    if subject is None:
        return
    company = subject.company
    if not subject.active:
        reason = RefusalReason.USER_SUSPENDED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)
    if company is None:
        return
    if not company.is_active:
        reason = RefusalReason.COMPANY_SUSPENDED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)
    if (
        enforce_allowlist
        and company.ip_allowlist
        and not (ip_address and ip_in_allowlist(allowlist=company.ip_allowlist, address=ip_address))
    ):
        reason = RefusalReason.IP_NOT_ALLOWED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)


# One statement tells whether the device is new: xmax is 0 only on a freshly inserted row.
_KNOWN_DEVICE_UPSERT = """
    INSERT INTO tenants_knowndevice (profile_id, fingerprint, description, first_seen_at, last_seen_at)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (profile_id, fingerprint) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
    RETURNING (xmax = 0)
"""


def device_fingerprint(*, device_key: str = "", user_agent: str = "") -> str:
    """A keyed SHA-256 of the device identity: the Cognito device key if the app sent one,
    else its user agent; empty when neither is known. Neither is stored in clear."""
    if device_key:
        return stable_hash(f"device-key:{device_key}")
    if user_agent:
        return stable_hash(f"user-agent:{user_agent}")
    return ""


def _profile_changes(
    *, row: Mapping[str, Any], email: str, given_name: str, family_name: str
) -> dict[str, str]:
    """The fields where Cognito's (proved) values differ from the profile's: `email` is empty
    unless proved, and a name the event does not carry leaves the profile's as it is."""
    changes: dict[str, str] = {}
    email = normalize_email(email)[:254]
    if "@" in email and email != row["email"]:
        changes["email"] = email
    for field, value in (("given_name", given_name), ("family_name", family_name)):
        value = value.strip()[:100]
        if value and value != row[field]:
            changes[field] = value
    return changes


def profile_record_sign_in(
    *,
    sub: str,
    username: str = "",
    email: str = "",
    email_verified: bool = False,
    federated: bool = False,
    user_pool_id: str = "",
    given_name: str = "",
    family_name: str = "",
    client_id: str = "",
    trigger_source: str = "",
    new_device_used: bool = False,
    device_key: str = "",
    user_agent: str = "",
) -> bool:
    """Record a successful sign-in. Best-effort: never raises, logs and returns False on failure.

    Onboards a user who has no profile yet (AdminCreateUser users never reach post
    confirmation; a post confirmation may have failed), then in one transaction: last
    login time and count (a single UPDATE with F()), a sign_in ActivityEvent, the device
    (KnownDevice keyed by device_fingerprint) and a new_device ActivityEvent when the
    device was not known or Cognito says a new device was used.

    The profile follows Cognito (issue 13, item 3): a proved email (onboarding.email_proved)
    different from the profile's replaces it, in the same UPDATE; an unproved one never
    does. Names follow when the event carries them. A company-less profile whose email is
    proved runs the matches by email onboarding skipped (profile_join_by_email).
    """
    if not sub:
        logger.warning("sign-in not recorded: the event has no sub", extra={"trigger_source": trigger_source})
        return False
    try:
        proved = email_proved(email_verified=email_verified, federated=federated)
        row: Mapping[str, Any] | None = (
            UserProfile.objects.filter(cognito_sub=sub)
            .values("pk", "company_id", "email", "given_name", "family_name")
            .first()
        )
        follow: dict[str, str] = {}
        if row is None:
            profile = profile_onboard(
                sub=sub,
                username=username,
                email=email,
                email_verified=email_verified,
                federated=federated,
                user_pool_id=user_pool_id,
                given_name=given_name,
                family_name=family_name,
            )
            row = {"pk": profile.pk, "company_id": profile.company_id}
        else:
            follow = _profile_changes(
                row=row, email=email if proved else "", given_name=given_name, family_name=family_name
            )
            if row["company_id"] is None and proved:
                joined = profile_join_by_email(profile_id=row["pk"], user_pool_id=user_pool_id)
                if joined is not None:
                    row = {**row, "company_id": joined.company_id}
        now = timezone.now()
        fingerprint = device_fingerprint(device_key=device_key, user_agent=user_agent)
        with transaction.atomic():
            UserProfile.objects.filter(pk=row["pk"]).update(
                last_login_at=now,
                login_count=F("login_count") + 1,
                updated_at=now,
                # A proved email is the profile's (followed above): record the proof.
                **({"email_verified": True} if proved else {}),
                **follow,
            )
            ActivityEvent.objects.create(
                kind=ActivityKind.SIGN_IN,
                profile_id=row["pk"],
                company_id=row["company_id"],
                data={"client_id": client_id[:128], "trigger_source": trigger_source[:64]},
            )
            first_seen = False
            if fingerprint:
                with connection.cursor() as cursor:
                    description = user_agent[:200] if user_agent else "Cognito remembered device"
                    cursor.execute(_KNOWN_DEVICE_UPSERT, [row["pk"], fingerprint, description, now, now])
                    (first_seen,) = cursor.fetchone()
            if first_seen or new_device_used:
                ActivityEvent.objects.create(
                    kind=ActivityKind.NEW_DEVICE,
                    profile_id=row["pk"],
                    company_id=row["company_id"],
                    data={
                        "client_id": client_id[:128],
                        "fingerprint": fingerprint[:12],
                        "cognito_new_device": new_device_used,
                    },
                )
    except Exception:
        # Post authentication must never block a sign-in that Cognito already accepted.
        logger.exception("sign-in not recorded", extra={"trigger_source": trigger_source})
        return False
    return True
