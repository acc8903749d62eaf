"""Onboarding: one idempotent service run by post confirmation, and again at a user's first sign-in.

AdminCreateUser users never reach post confirmation, and a post confirmation can fail
with the database down, so post authentication onboards a sub that has no profile yet.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from core.addresses import email_domain, normalize_email
from core.db import existing_or_raise, insert_unless_exists
from invites.models import Invitation, RefusalReason
from invites.selectors import (
    domain_rule_for,
    invitation_pending_for_email,
    invitation_reserved_for,
    invitation_revoked_reserved_for,
)
from invites.services import InvitationError, company_join, invitation_accept, invitation_find, refusal_record
from outbox.models import SideEffectKind
from outbox.services import side_effect_enqueue
from tenants.messages import email_queue, profile_subject, user_email_context
from tenants.models import (
    ActivityEvent,
    ActivityKind,
    Company,
    LegacyUser,
    MembershipRoute,
    MembershipStatus,
    Role,
    UserProfile,
    Workspace,
    WorkspaceKind,
)

# no profile exists (AdminCreateUser users never reach post confirmation; a post confirmation
# can fail with the database down).

ONBOARDING_TRIGGER_SOURCE = "onboarding"  # SignupRefusal.trigger_source for refusals found here


def profile_onboard(
    *,
    sub: str,
    username: str,
    email: str,
    user_pool_id: str,
    given_name: str = "",
    family_name: str = "",
    email_verified: bool = False,
    federated: bool = False,
    invitation_code: str = "",
    source: str = "",
    campaign: str = "",
    referrer: str = "",
) -> UserProfile:
    """Create a Cognito user's profile, membership, workspace and welcome, exactly once per sub.

    Company and role come only from Gatehouse's records, in this order: the invitation
    reserved for this username in pre sign-up, the invitation code given, a pending
    invitation for the email, a legacy user with this email, a company domain that lets
    its users join; otherwise the user gets no company and a personal workspace. The three
    matches by email need a proved email (email_proved): Cognito's `email_verified` for a
    native user; a federated user's (`federated`) proves nothing, so they wait for the
    verified domains of the enterprise issue. A user whose email is proved later joins at
    a sign-in (profile_join_by_email). An
    invitation or join that fails (seat gone, company suspended) never fails onboarding:
    the user is onboarded without the company and a SignupRefusal tells staff why.
    Side effects (Cognito group, welcome email, CRM webhook) go through the outbox in the
    same transaction, keyed on the sub, so replays add nothing. source, campaign and
    referrer are analytics only.
    """
    if not sub:
        raise ValueError("profile_onboard needs the user's Cognito sub")
    email = normalize_email(email)
    source, campaign, referrer = source.strip()[:100], campaign.strip()[:100], referrer.strip()[:500]

    with transaction.atomic():
        profile = UserProfile(
            cognito_sub=sub[:64],
            username=username[:128],
            email=email[:254],
            email_verified=email_proved(email_verified=email_verified, federated=federated),
            given_name=given_name.strip()[:100],
            family_name=family_name.strip()[:100],
            signup_source=source,
            signup_campaign=campaign,
            signup_referrer=referrer,
        )
        # Unique on cognito_sub, one INSERT ... ON CONFLICT: a concurrent replay waits on the
        # first insert, inserts nothing, then finds that row. Callers call this for a sub
        # with no profile, so the insert (not a SELECT first) is the common case.
        if not insert_unless_exists(profile):
            return existing_or_raise(
                UserProfile.objects.filter(cognito_sub=sub[:64]).first(), what="user profile"
            )
        _onboard_membership(
            profile=profile,
            username=username,
            invitation_code=invitation_code,
            proved=email_proved(email_verified=email_verified, federated=federated),
            federated=federated,
        )
        if profile.company_id is None:
            Workspace.objects.create(name="Personal workspace", kind=WorkspaceKind.PERSONAL, owner=profile)
        ActivityEvent.objects.create(
            kind=ActivityKind.SIGN_UP,
            profile=profile,
            company_id=profile.company_id,
            data={"source": source, "campaign": campaign, "referrer": referrer},
        )
        _onboard_side_effects(profile=profile, user_pool_id=user_pool_id)
    return profile


def email_proved(*, email_verified: bool, federated: bool) -> bool:
    """Whether the event's email is proved held by this user (issue 13, items 1 and 2).

    Cognito sets `email_verified` "true" for a native user only once they entered the code
    it mailed there (or pre sign-up's autoVerifyEmail, which accounts.sign_up sends only
    for an invitation code typed for that address). For a federated user it is whatever
    the provider's attribute mapping says: it proves nothing.
    """
    return email_verified and not federated


def _onboard_membership(
    *, profile: UserProfile, username: str, invitation_code: str, proved: bool, federated: bool
) -> None:
    invitation = invitation_reserved_for(username=username)
    if invitation is not None and federated:
        # Pre sign-up binds a federated user's invitation by the provider's email, which
        # proves nothing: the invitation stays reserved, unaccepted, until the enterprise
        # issue's verified domains vouch for the provider. A native user's reservation was
        # made by a code typed for that address (or by an operator): that is the proof.
        refusal_record(
            trigger_source=ONBOARDING_TRIGGER_SOURCE,
            reason=RefusalReason.INVITATION_EMAIL_MISMATCH,
            email=profile.email,
            invitation=invitation,
            detail="An identity provider's email proves nothing yet; the federated user was "
            "onboarded without a company.",
        )
        return
    if invitation is None and invitation_code:
        # A code was mailed to one address and invitation_accept checks it is this one:
        # typing it proves the address, verified or not.
        invitation = invitation_find(code=invitation_code)
        if invitation is not None and invitation.reserved_for_username not in ("", username):
            # The code is clientMetadata (the client's); pre sign-up bound this invitation to
            # another Cognito user, and a code never moves it (tests/reliability/test_concurrency).
            invitation = None
    if invitation is None and not invitation_code:
        revoked = invitation_revoked_reserved_for(username=username)
        if revoked is not None:
            # Staff revoked it between sign-up and confirmation: say why this user ends up
            # without the company they signed up for (issue 13, item 15).
            refusal_record(
                trigger_source=ONBOARDING_TRIGGER_SOURCE,
                reason=RefusalReason.INVITATION_REVOKED,
                email=profile.email,
                invitation=revoked,
                detail="The invitation reserved for this user at sign-up was revoked before the "
                "confirmation; the user was onboarded without a company.",
            )
            return
    if invitation is not None:
        _onboard_accept(profile=profile, invitation=invitation)
        return
    if proved:
        _membership_by_email(profile=profile, username=username)


def _onboard_accept(*, profile: UserProfile, invitation: Invitation) -> None:
    try:
        invitation_accept(invitation=invitation, profile=profile)
    except InvitationError as error:
        refusal_record(
            trigger_source=ONBOARDING_TRIGGER_SOURCE,
            reason=error.reason,
            email=profile.email,
            invitation=invitation,
            detail="The invitation could not be accepted at onboarding; the user was "
            "onboarded without a company.",
        )


def _membership_by_email(*, profile: UserProfile, username: str) -> None:
    """Pending invitation, legacy user, join domain: only ever called for a proved email."""
    invitation = invitation_pending_for_email(email=profile.email)
    if invitation is not None and invitation.reserved_for_username not in ("", username):
        invitation = None  # bound to another Cognito user: one invitation, one user
    if invitation is not None:
        _onboard_accept(profile=profile, invitation=invitation)
        return

    legacy = (
        LegacyUser.objects.select_related("company__default_role", "role")
        .alias(email_lower=Lower("email"))
        .filter(email_lower=profile.email)
        .first()
        if profile.email
        else None
    )
    if legacy is not None:
        profile.migrated_from_legacy = True
        profile.save(update_fields=["migrated_from_legacy", "updated_at"])
        LegacyUser.objects.filter(pk=legacy.pk, migrated_at__isnull=True).update(migrated_at=timezone.now())
        if legacy.company is not None:
            _onboard_join(
                profile=profile,
                company=legacy.company,
                role=legacy.role,
                why="legacy user",
                route=MembershipRoute.LEGACY,
            )
        return

    rule = domain_rule_for(domain=email_domain(profile.email)) if "@" in profile.email else None
    if rule is not None and rule.allow_join:
        _onboard_join(
            profile=profile,
            company=rule.company,
            role=None,
            why="email domain rule",
            route=MembershipRoute.DOMAIN,
        )


def profile_join_by_email(*, profile_id: int, user_pool_id: str) -> UserProfile | None:
    """Give a company-less profile the company its now-proved email leads to (at a sign-in).

    A user auto-confirmed by a domain rule is onboarded before their email is verified;
    once it is, the next full sign-in runs the matches by email that onboarding skipped.
    Returns the profile when it joined a company, None otherwise.
    """
    with transaction.atomic():
        profile = (
            UserProfile.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=profile_id)
            # A member anywhere (even suspended) is not joined again by their address.
            .exclude(memberships__status__in=[MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED])
            .first()
        )
        if profile is None:
            return None
        _membership_by_email(profile=profile, username=profile.username)
        if profile.company_id is None:
            return None
        _onboard_group(profile=profile, user_pool_id=user_pool_id)
    return profile


def _onboard_join(*, profile: UserProfile, company: Company, role: Any, why: str, route: str) -> None:
    if role is None:
        role = company.default_role or Role.objects.filter(key="USER", company__isnull=True).first()
    try:
        company_join(company=company, profile=profile, role=role, route=route)
    except InvitationError as error:
        refusal_record(
            trigger_source=ONBOARDING_TRIGGER_SOURCE,
            reason=error.reason,
            email=profile.email,
            company=company,
            detail=f"Could not join the company through the {why}; the user was onboarded without one.",
        )


def _onboard_group(*, profile: UserProfile, user_pool_id: str) -> None:
    role = profile.role
    if role is not None and user_pool_id and profile.username:
        side_effect_enqueue(
            key=f"onboard:group:{profile.cognito_sub}",
            kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
            payload={
                "user_pool_id": user_pool_id,
                "username": profile.username,
                "group": role.group_name,
                "precedence": role.precedence,
            },
            subject=profile_subject(profile),
        )


def _onboard_side_effects(*, profile: UserProfile, user_pool_id: str) -> None:
    sub = profile.cognito_sub
    role = profile.role
    _onboard_group(profile=profile, user_pool_id=user_pool_id)
    if "@" in profile.email:
        email_queue(
            key=f"welcome:{sub}",
            template="welcome",
            to=profile.email,
            company=profile.company,
            language=profile.language,
            context={
                "user": user_email_context(profile),
                "role": {"key": role.key, "name": role.name} if role is not None else {},
            },
            profile=profile,
        )
    if settings.CRM_WEBHOOK_URL:
        company = profile.company
        side_effect_enqueue(
            key=f"onboard:crm:{sub}",
            kind=SideEffectKind.CRM_WEBHOOK,
            payload={
                "url": settings.CRM_WEBHOOK_URL,
                # What a CRM needs to record a sign-up and attribute it: who (the sub, and the
                # email as its contact key), where and as what, and the campaign. Names and
                # anything else about the person stay in Gatehouse.
                "body": {
                    "event": "user.signed_up",
                    "delivery_id": f"onboard:crm:{sub}",
                    "sub": sub,
                    "email": profile.email,
                    "company": company.slug if company is not None else None,
                    "role": role.key if role is not None else None,
                    "source": profile.signup_source,
                    "campaign": profile.signup_campaign,
                    "referrer": profile.signup_referrer,
                },
            },
            subject=profile_subject(profile),
        )
