"""Deciding a sign-up (pre sign-up): the policy staff edit, the invitation, the domain rule.

Company and role are never taken from the request: only an invitation (by code, or for
admin-created and federated users by email) or a company's domain rule can lead to a
company, and that happens at onboarding (accounts.onboarding.profile_onboard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from accounts.signup_limits import signup_limit_exceeded
from core.addresses import email_is_lookalike, normalize_email
from invites.models import Invitation, RefusalReason
from invites.selectors import DomainRule, domain_rule_for, invitation_pending_for_email, signup_rules
from invites.services import (
    USER_MESSAGES,
    InvitationError,
    company_has_free_seat,
    invitation_check,
    invitation_reserve,
)
from tenants.models import Company


class SignupRefused(InvitationError):
    """A sign-up rule was broken. Carries the company concerned and an internal detail for staff."""

    def __init__(
        self,
        reason: RefusalReason,
        message: str,
        *,
        invitation: Invitation | None = None,
        company: Company | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(reason, message, invitation)
        self.company = company or (invitation.company if invitation is not None else None)
        self.detail = detail

    @classmethod
    def from_invitation_error(cls, error: InvitationError, *, detail: str = "") -> SignupRefused:
        return cls(error.reason, error.message, invitation=error.invitation, detail=detail)


SIGNUP_MESSAGES: dict[RefusalReason, str] = {
    **USER_MESSAGES,
    RefusalReason.DOMAIN_NOT_ALLOWED: "Sign-up is not open to this email address's domain",
    RefusalReason.EMPLOYEE_ID_INVALID: "A valid employee ID is required to sign up",
    RefusalReason.RATE_LIMITED: "Too many sign-ups from your network. Please try again later",
}

EMPLOYEE_ID_MAX_LENGTH = 64  # bounds the work a staff-written pattern can be made to do


class SignupKind:
    """How the user is being created: the rules differ (see docs/triggers.md)."""

    SELF = "self"  # PreSignUp_SignUp: the end user fills in a form
    ADMIN = "admin"  # PreSignUp_AdminCreateUser: an operator creates the user
    FEDERATED = "federated"  # PreSignUp_ExternalProvider: first sign-in through an identity provider


@dataclass(frozen=True, slots=True)
class SignupDecision:
    """What pre sign-up answers, and what it bound (for logs and tests)."""

    auto_confirm: bool
    auto_verify_email: bool
    company_id: int | None
    invitation_id: int | None


def _signup_refuse(
    reason: RefusalReason,
    *,
    invitation: Invitation | None = None,
    company: Company | None = None,
    detail: str = "",
) -> SignupRefused:
    return SignupRefused(
        reason, SIGNUP_MESSAGES[reason], invitation=invitation, company=company, detail=detail
    )


def employee_id_matches(*, pattern: str, value: str) -> bool:
    """Whether `value` matches the staff-written pattern, whole, in linear time.

    RE2 has no backtracking, so no pattern (`([A-Z0-9]+)+-[0-9]{4}` under Python's re takes
    seconds on 25 characters) can stall pre sign-up; invites.models.validate_regex refuses
    what RE2 cannot run when staff save it. A pattern saved past that check raises re2.error:
    our fault, not the user's, so it is a temporary failure, logged.
    """
    # Imported here, not at the top: only a pre sign-up with a pattern set needs RE2, and the
    # other triggers' cold start stays without it (tests/lambda/test_trigger_import_path.py).
    import re2

    return re2.fullmatch(pattern, value) is not None


def _invitation_usable(*, invitation: Invitation, username: str) -> None:
    """The checks of invitation_check that remain for an invitation found by email, not by code."""
    if invitation.reserved_for_username and invitation.reserved_for_username != username:
        raise _signup_refuse(RefusalReason.INVITATION_USED, invitation=invitation)
    if not invitation.company.is_active:
        raise _signup_refuse(RefusalReason.COMPANY_SUSPENDED, invitation=invitation)
    if not company_has_free_seat(invitation.company):
        raise _signup_refuse(RefusalReason.COMPANY_FULL, invitation=invitation)


def signup_evaluate(
    *,
    kind: str,
    username: str,
    email: str,
    employee_id: str | None = None,
    invitation_code: str = "",
    client_metadata: Mapping[str, str] | None = None,
) -> SignupDecision:
    """Decide a pre sign-up: raise SignupRefused, or bind the invitation and say what to confirm.

    Company and role are never taken from the request: only an invitation (by code, or for
    admin-created and federated users by email) or a company's domain rule can lead to a
    company, and that happens at onboarding (accounts.onboarding.profile_onboard).
    """
    rules = signup_rules()
    if email_is_lookalike(email):
        raise _signup_refuse(RefusalReason.EMAIL_LOOKALIKE, detail="NFKC form differs from the address")
    email = normalize_email(email)
    domain = email.rpartition("@")[2] if "@" in email else ""

    rule = domain_rule_for(domain=domain)
    # A domain a company owns is always allowed; the global allowlist restricts the rest.
    if rules.domain_allowlist and domain not in rules.domain_allowlist and rule is None:
        raise _signup_refuse(
            RefusalReason.DOMAIN_NOT_ALLOWED, detail=f"domain {domain or '(no email)'!r} is not allowed"
        )

    # Self sign-up must carry the ID; an operator or an identity provider may leave it out,
    # but a value that is there must match.
    if rules.employee_id_pattern and (kind == SignupKind.SELF or employee_id is not None):
        value = employee_id or ""  # not stripped: Cognito stores the value as sent
        if (
            not value
            or len(value) > EMPLOYEE_ID_MAX_LENGTH
            or not employee_id_matches(pattern=rules.employee_id_pattern, value=value)
        ):
            raise _signup_refuse(
                RefusalReason.EMPLOYEE_ID_INVALID,
                company=rule.company if rule else None,
                detail="employee ID missing" if not value else "employee ID does not match the pattern",
            )

    invitation: Invitation | None = None
    fallback_error: SignupRefused | None = None
    if invitation_code:
        try:
            invitation = invitation_check(code=invitation_code, email=email, username=username)
        except InvitationError as error:
            raise SignupRefused.from_invitation_error(error, detail="invitation code given") from error
    elif kind in (SignupKind.ADMIN, SignupKind.FEDERATED):
        # No form to type a code into: an invitation sent to this (operator- or
        # IdP-asserted) address is the one to bind.
        candidate = invitation_pending_for_email(email=email)
        if candidate is not None:
            try:
                _invitation_usable(invitation=candidate, username=username)
                invitation = candidate
            except SignupRefused as error:
                fallback_error = error

    joins_by_domain = rule is not None and rule.allow_join
    if invitation is None and kind != SignupKind.ADMIN and rules.invitation_required:
        if fallback_error is not None:
            raise fallback_error
        if not joins_by_domain:
            raise _signup_refuse(RefusalReason.INVITATION_REQUIRED)
        # The domain rule is what lets this user in: its company must be able to take them.
        assert rule is not None
        if not rule.company.is_active:
            raise _signup_refuse(RefusalReason.COMPANY_SUSPENDED, company=rule.company)
        if not company_has_free_seat(rule.company):
            raise _signup_refuse(RefusalReason.COMPANY_FULL, company=rule.company)

    # Counted last, once every rule passed: refused junk never uses up a valid sign-up's quota.
    if kind != SignupKind.ADMIN and rules.signups_per_ip_per_hour:
        over = signup_limit_exceeded(
            email=email, metadata=client_metadata or {}, per_ip_per_hour=rules.signups_per_ip_per_hour
        )
        if over:
            raise _signup_refuse(RefusalReason.RATE_LIMITED, detail=over)

    if invitation is not None:
        try:
            invitation_reserve(invitation=invitation, username=username)
        except InvitationError as error:
            raise SignupRefused.from_invitation_error(error, detail="reserved by another user") from error

    # Cognito ignores these flags for AdminCreateUser; never send them there.
    auto_confirm = kind != SignupKind.ADMIN and (
        domain in rules.auto_confirm_domains
        or (rule is not None and rule.auto_confirm and rule.company.is_active)
    )
    company = (
        invitation.company
        if invitation is not None
        else (cast("DomainRule", rule).company if joins_by_domain else None)
    )
    # Cognito marks the email verified only when we say so, and nothing but a code mailed to
    # this exact address proves who holds it: a domain rule (staff's auto-confirm) skips
    # Cognito's confirmation step but leaves the email unverified, so joining by domain waits
    # for the app's verify-email step (accounts.onboarding; issue 13, item 1).
    proved_by_code = invitation is not None and bool(invitation_code) and kind == SignupKind.SELF
    return SignupDecision(
        auto_confirm=auto_confirm,
        auto_verify_email=auto_confirm and proved_by_code and bool(domain),
        company_id=company.pk if company is not None else None,
        invitation_id=invitation.pk if invitation is not None else None,
    )
