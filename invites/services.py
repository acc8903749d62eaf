"""Invitations: create, send, resend, revoke, extend, check and accept (one at a time).

Many at once: invites.bulk. By creating the Cognito user: invites.cognito_users. Whether a
sign-up may use one: accounts.sign_up.

Codes come from `secrets` and are stored only as a SHA-256 hash: a code has
80 bits of entropy, so a fast hash is enough and lookups stay indexed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from core.addresses import email_is_lookalike, emails_match, normalize_email
from invites.models import Invitation, InvitationStatus, RefusalReason, SignupRefusal
from tenants.grants import role_grant_refusal, role_grantable_by, role_grantable_by_member
from tenants.memberships import MembershipError, membership_add
from tenants.messages import email_queue
from tenants.models import Company, Membership, MembershipRoute, Role, UserProfile

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Crockford's base32 without the look-alikes I, L, O, U: easy to read out and type.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
CODE_GROUPS = 4
CODE_GROUP_LEN = 4  # 16 symbols of 32 = 80 bits
EMAIL_MAX_LENGTH = 254  # Invitation.email's column


class InvitationError(Exception):
    """A rule an invitation broke. `message` is safe to show the end user; `reason` is internal."""

    def __init__(self, reason: RefusalReason, message: str, invitation: Invitation | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.invitation = invitation


USER_MESSAGES: dict[RefusalReason, str] = {
    RefusalReason.INVITATION_REQUIRED: "An invitation code is required to sign up",
    RefusalReason.INVITATION_UNKNOWN: "This invitation code is not valid",
    RefusalReason.INVITATION_EMAIL_MISMATCH: "This invitation was sent to a different email address",
    RefusalReason.INVITATION_EXPIRED: "This invitation has expired. Ask for a new one",
    RefusalReason.INVITATION_REVOKED: "This invitation has been withdrawn",
    RefusalReason.INVITATION_USED: "This invitation has already been used",
    RefusalReason.COMPANY_FULL: "This company has no free seats. Ask an administrator",
    RefusalReason.COMPANY_SUSPENDED: "This company's account is suspended",
    RefusalReason.EMAIL_LOOKALIKE: "This email address contains characters that imitate others",
}


def _refuse(reason: RefusalReason, invitation: Invitation | None = None) -> InvitationError:
    return InvitationError(reason, USER_MESSAGES[reason], invitation)


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """An invitation and its plain code: the one moment the code exists outside a hash."""

    invitation: Invitation
    code: str


def invitation_code_generate() -> str:
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(symbols[i : i + CODE_GROUP_LEN] for i in range(0, len(symbols), CODE_GROUP_LEN))


def invitation_code_normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def invitation_code_hash(code: str) -> str:
    return hashlib.sha256(invitation_code_normalize(code).encode()).hexdigest()


def default_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


def invitation_validate(
    *,
    company: Company,
    email: str,
    role: Role,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    grantor_permissions: Sequence[str] | None = None,
) -> str:
    """Check an invitation could be created; return the normalised email. Raises ValidationError.

    `actor` is the staff member inviting: they must hold every permission of the role
    (tenants.grants). None is Gatehouse itself (seed_demo, a management command), never a person.
    `grantor_permissions` are those of a member inviting through the tenant API: the role may
    carry none they do not hold.
    """
    errors: dict[str, str] = {}
    if email_is_lookalike(email):
        errors["email"] = "The address contains characters that imitate others (see docs/security.md)."
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    if len(email) > EMAIL_MAX_LENGTH:
        # validate_email allows 320; the column holds 254 (RFC 5321's path limit).
        errors["email"] = f"The address is longer than {EMAIL_MAX_LENGTH} characters."
    if role.company_id not in (None, company.pk):
        errors["role"] = f"The role {role.key} belongs to another company."
    elif actor is not None and not role_grantable_by(role=role, actor=actor):
        errors["role"] = role_grant_refusal(role)
    elif grantor_permissions is not None and not role_grantable_by_member(
        role=role, held=grantor_permissions
    ):
        errors["role"] = f"You cannot grant the role {role.key}: it carries permissions you do not hold."
    # Through Lower(email): the expression of one_open_invitation_per_company_email's index.
    open_for_email = Invitation.objects.pending().alias(email_lower=Lower("email"))
    if not errors and open_for_email.filter(company=company, email_lower=email).exists():
        errors["email"] = f"{email} already has a pending invitation to {company}."
    if not errors and Membership.objects.current().filter(company=company, profile__email=email).exists():
        errors["email"] = f"{email} is already a member of {company}."
    if errors:
        raise ValidationError(errors)
    return email


@transaction.atomic
def invitation_create(
    *,
    company: Company,
    email: str,
    role: Role,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    expires_at: datetime | None = None,
    send: bool = False,
    grantor_permissions: Sequence[str] | None = None,
) -> IssuedInvitation:
    """Create an invitation and return it with its code; replaces an expired open one."""
    email = invitation_validate(
        company=company, email=email, role=role, actor=created_by, grantor_permissions=grantor_permissions
    )
    # An expired invitation still counts as open for the unique constraint: void it.
    Invitation.objects.open().alias(email_lower=Lower("email")).filter(
        company=company, email_lower=email, expires_at__lte=timezone.now()
    ).update(revoked_at=timezone.now())
    code = invitation_code_generate()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                company=company,
                email=email,
                role=role,
                code_hash=invitation_code_hash(code),
                expires_at=expires_at or default_expiry(),
                created_by=cast("User | None", created_by if getattr(created_by, "pk", None) else None),
            )
    except IntegrityError as exc:
        # Another request created the same invitation between our check and insert.
        raise ValidationError({"email": f"{email} already has a pending invitation to {company}."}) from exc
    if send:
        invitation_send(invitation=invitation, code=code)
    return IssuedInvitation(invitation=invitation, code=code)


def invitation_send(*, invitation: Invitation, code: str) -> None:
    """Queue the invitation email (rendered now, sent after commit by the outbox)."""
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk).update(times_sent=invitation.times_sent + 1, last_sent_at=now)
    invitation.times_sent += 1
    invitation.last_sent_at = now
    invitation_email_enqueue(invitation=invitation, code=code)


INVITATION_EMAIL_KEY_PREFIX = "invitation:"


def invitation_email_key(*, invitation_id: int, sending: int) -> str:
    """The idempotency key of an invitation's n-th email (the outbox puts "email:" in front)."""
    return f"{INVITATION_EMAIL_KEY_PREFIX}{invitation_id}:{sending}"


def invitation_email_enqueue(*, invitation: Invitation, code: str) -> None:
    """Queue the email of an invitation whose times_sent already counts this sending."""
    company = invitation.company
    # Someone with an account cannot sign up again: they sign in and accept (invitation_accept_by).
    existing = UserProfile.objects.filter(email=invitation.email).only("pk").first()
    email_queue(
        key=invitation_email_key(invitation_id=invitation.pk, sending=invitation.times_sent),
        template="invitation",
        to=invitation.email,
        company=company,
        language="en",
        context={
            "user": {"given_name": "", "family_name": "", "email": invitation.email},
            "role": {"key": invitation.role.key, "name": invitation.role.name},
            "invitation_code": "" if existing else code,
            "existing_account": existing is not None,
            "expires_at": f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        },
        expires_at=invitation.expires_at,
    )


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> IssuedInvitation:
    """Issue a new code (the old one stops working) and send it again."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise ValidationError(f"Only a pending invitation can be resent; this one is {invitation.status}.")
    code = invitation_code_generate()
    invitation.code_hash = invitation_code_hash(code)
    invitation.save(update_fields=["code_hash"])
    invitation_send(invitation=invitation, code=code)
    return IssuedInvitation(invitation=invitation, code=code)


def invitation_revoke(*, invitation: Invitation) -> bool:
    """Revoke an open invitation; False when it was already accepted or revoked."""
    updated = Invitation.objects.open().filter(pk=invitation.pk).update(revoked_at=timezone.now())
    return bool(updated)


def invitation_extend(*, invitation: Invitation, days: int | None = None) -> bool:
    """Push the expiry of an open invitation to `days` from now."""
    new_expiry = timezone.now() + timedelta(days=days or settings.INVITATION_TTL_DAYS)
    updated = Invitation.objects.open().filter(pk=invitation.pk).update(expires_at=new_expiry)
    return bool(updated)


def invitation_find(*, code: str) -> Invitation | None:
    normalized = invitation_code_normalize(code)
    if len(normalized) != CODE_GROUPS * CODE_GROUP_LEN:
        return None
    digest = invitation_code_hash(normalized)
    invitation = Invitation.objects.select_related("company", "role").filter(code_hash=digest).first()
    # The index lookup already matched; compare again in constant time as a belt-and-braces
    # guard against a future change to a prefix or partial lookup.
    if invitation is None or not hmac.compare_digest(invitation.code_hash, digest):
        return None
    return invitation


def invitations_pending_for(*, profile: UserProfile) -> list[Invitation]:
    """Invitations waiting for this person's explicit answer: sent to their address, still pending."""
    if "@" not in profile.email:
        return []
    return list(
        Invitation.objects.pending()
        .filter(email=profile.email)
        .exclude(
            company__memberships__profile=profile, company__memberships__status__in=["active", "suspended"]
        )
        .select_related("company", "role")
        .order_by("-created_at")
    )


def invitation_accept_by(*, invitation: Invitation, profile: UserProfile) -> Invitation:
    """A signed-in person accepts an invitation sent to their address (the tenant API calls this).

    Only the person it was sent to, with that address proved: the profile's email must be the
    invitation's and verified (UserProfile.email_verified, from Cognito via a trigger), so
    nobody accepts another's invitation by knowing its id or by typing their address unproved.
    """
    if invitation.email != normalize_email(profile.email) or not profile.email_verified:
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    return invitation_accept(invitation=invitation, profile=profile)


def invitation_decline_by(*, invitation: Invitation, profile: UserProfile) -> bool:
    """The invitee says no: the invitation is revoked. False when it was not open."""
    if invitation.email != normalize_email(profile.email):
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    return invitation_revoke(invitation=invitation)


def company_has_free_seat(company: Company) -> bool:
    """Read from the company row (tenants.memberships keeps the count under its lock): O(1)."""
    return company.seat_limit is None or company.active_members < company.seat_limit


def _membership_refusal(error: MembershipError, invitation: Invitation | None = None) -> InvitationError:
    reasons = {
        "company_full": RefusalReason.COMPANY_FULL,
        "company_suspended": RefusalReason.COMPANY_SUSPENDED,
    }
    reason = reasons.get(error.reason)
    if reason is None:
        raise error
    return _refuse(reason, invitation)


def invitation_check(*, code: str, email: str, username: str = "") -> Invitation:
    """Return the invitation a sign-up may use, or raise InvitationError with the reason.

    `username` (Cognito's userName) lets the user the invitation was reserved for pass
    again when Cognito retries the trigger.
    """
    invitation = invitation_find(code=code)
    if invitation is None:
        raise _refuse(RefusalReason.INVITATION_UNKNOWN)
    if email_is_lookalike(email):
        # "\u212aate@" would normalise onto the invitee "kate@": never let it match.
        raise _refuse(RefusalReason.EMAIL_LOOKALIKE, invitation)
    # Constant time on UTF-8 bytes: compare_digest refuses str holding non-ASCII characters.
    if not hmac.compare_digest(normalize_email(invitation.email).encode(), normalize_email(email).encode()):
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    status = invitation.status
    if status == InvitationStatus.ACCEPTED:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if status == InvitationStatus.REVOKED:
        raise _refuse(RefusalReason.INVITATION_REVOKED, invitation)
    if status == InvitationStatus.EXPIRED:
        raise _refuse(RefusalReason.INVITATION_EXPIRED, invitation)
    if invitation.reserved_for_username and username and invitation.reserved_for_username != username:
        # Bound to another Cognito user that has not confirmed yet: one code, one user.
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if not invitation.company.is_active:
        raise _refuse(RefusalReason.COMPANY_SUSPENDED, invitation)
    if not company_has_free_seat(invitation.company):
        raise _refuse(RefusalReason.COMPANY_FULL, invitation)
    return invitation


def invitation_reserve(*, invitation: Invitation, username: str) -> None:
    """Bind a pending invitation to the Cognito user about to use it (first one wins)."""
    updated = (
        Invitation.objects.open()
        .filter(pk=invitation.pk, reserved_for_username__in=["", username])
        .update(reserved_for_username=username)
    )
    if not updated:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, profile: UserProfile) -> Invitation:
    """Accept an invitation for a profile, exactly once, within the company's seat limit.

    Locks the invitation, then the company row, so concurrent acceptances of one code
    serialize, and concurrent joins of one company cannot exceed its seats. Accepting
    again for the same profile is a no-op (Cognito retries triggers).
    """
    # NO KEY UPDATE, and only the invitation row (not the joined role): a refusal recorded at
    # the same moment takes FOR KEY SHARE on this invitation and its company for its foreign
    # keys, and plain FOR UPDATE here deadlocked with it (tests/reliability/test_concurrency).
    invitation = (
        Invitation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("role", "company")
        .get(pk=invitation.pk)
    )
    if invitation.accepted_by_id == profile.pk:
        return invitation
    if email_is_lookalike(profile.email) or not emails_match(invitation.email, profile.email):
        raise _refuse(RefusalReason.INVITATION_EMAIL_MISMATCH, invitation)
    status = invitation.status
    if status == InvitationStatus.ACCEPTED:
        raise _refuse(RefusalReason.INVITATION_USED, invitation)
    if status == InvitationStatus.REVOKED:
        raise _refuse(RefusalReason.INVITATION_REVOKED, invitation)
    if status == InvitationStatus.EXPIRED:
        raise _refuse(RefusalReason.INVITATION_EXPIRED, invitation)
    try:
        # Locks the company row, checks it is active and has a seat, and writes the old
        # profile columns alongside (tenants.memberships).
        membership_add(
            profile=profile,
            company=invitation.company,
            role=invitation.role,
            route=MembershipRoute.INVITATION,
        )
    except MembershipError as error:
        raise _membership_refusal(error, invitation) from error
    invitation.accepted_by = profile
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return invitation


@transaction.atomic
def company_join(
    *, company: Company, profile: UserProfile, role: Role | None, route: str = MembershipRoute.DOMAIN
) -> None:
    """Put a profile in a company (domain rule, legacy import) within its seat limit."""
    try:
        membership_add(profile=profile, company=company, role=role, route=route)
    except MembershipError as error:
        raise _membership_refusal(error) from error


def refusal_record(
    *,
    trigger_source: str,
    reason: RefusalReason | str,
    email: str = "",
    detail: str = "",
    invitation: Invitation | None = None,
    company: Company | None = None,
    user_pool_id: str = "",
) -> SignupRefusal:
    return SignupRefusal.objects.create(
        trigger_source=trigger_source[:64],
        reason=reason,
        email=normalize_email(email)[:254],
        detail=detail[:2000],
        invitation=invitation,
        company=company or (invitation.company if invitation else None),
        user_pool_id=user_pool_id[:64],
    )
