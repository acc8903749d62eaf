"""A person's data: export everything Gatehouse holds on them, or erase it (GDPR access and erasure).

A flow, because a person's data spans apps: the profile, memberships, workspaces, devices
and activity (tenants), invitations and refused sign-ups sent to their address (invites),
their login codes (accounts), the side effects about them (outbox) and the admin's history.
Erasure anonymises what must stay for the record (memberships, accepted invitations) and
deletes the rest; the Cognito user is deleted through the outbox; a PersonErasure row says
who erased whom and when, and holds none of the erased data. tests/accounts/test_privacy.py
scans every text and JSON column of every table for the erased email and names, so a
table added later that keeps them fails the test.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import LoginCode
from invites.models import Invitation, SignupRefusal
from outbox.models import SideEffect, SideEffectKind
from outbox.services import side_effect_enqueue
from tenants.messages import profile_subject
from tenants.models import (
    ActivityEvent,
    Company,
    KnownDevice,
    LegacyUser,
    Membership,
    MembershipStatus,
    PersonErasure,
    Status,
    UserProfile,
    Workspace,
    default_preferences,
)

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real address


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def person_export(*, profile: UserProfile) -> dict[str, Any]:
    """Everything Gatehouse holds on this person, as JSON-ready data (never a hash or a code)."""
    email = profile.email
    memberships = Membership.objects.filter(profile=profile).select_related("company", "role")
    invitations = Invitation.objects.filter(Q(email=email) | Q(accepted_by=profile)).select_related(
        "company", "role"
    )
    return {
        "profile": {
            "id": profile.pk,
            "cognito_sub": profile.cognito_sub,
            "username": profile.username,
            "email": email,
            "email_verified": profile.email_verified,
            "given_name": profile.given_name,
            "family_name": profile.family_name,
            "status": profile.status,
            "preferences": profile.preferences,
            "active_company_id": profile.active_company_id,
            "signup": {
                "source": profile.signup_source,
                "campaign": profile.signup_campaign,
                "referrer": profile.signup_referrer,
            },
            "migrated_from_legacy": profile.migrated_from_legacy,
            "last_login_at": _when(profile.last_login_at),
            "login_count": profile.login_count,
            "created_at": _when(profile.created_at),
        },
        "memberships": [
            {
                "company_id": m.company_id,
                "company": m.company.name,
                "role": m.role.key if m.role else None,
                "status": m.status,
                "route": m.route,
                "created_at": _when(m.created_at),
                "ended_at": _when(m.ended_at),
            }
            for m in memberships
        ],
        "workspaces": [
            {"name": w.name, "kind": w.kind, "created_at": _when(getattr(w, "created_at", None))}
            for w in Workspace.objects.filter(owner=profile)
        ],
        "devices": [
            {
                "description": d.description,
                "first_seen_at": _when(d.first_seen_at),
                "last_seen_at": _when(d.last_seen_at),
            }
            for d in KnownDevice.objects.filter(profile=profile)
        ],
        "activity": [
            {"kind": a.kind, "company_id": a.company_id, "data": a.data, "created_at": _when(a.created_at)}
            for a in ActivityEvent.objects.filter(profile=profile).order_by("created_at")
        ],
        "invitations": [
            {
                "company": i.company.name,
                "role": i.role.key,
                "status": str(i.status),
                "created_at": _when(i.created_at),
                "accepted_at": _when(i.accepted_at),
            }
            for i in invitations
        ],
        "refused_sign_ups": [
            {"reason": r.reason, "trigger_source": r.trigger_source, "created_at": _when(r.created_at)}
            for r in SignupRefusal.objects.filter(email=email)
        ],
        "legacy_account": [
            {
                "company_id": u.company_id,
                "imported_at": _when(getattr(u, "created_at", None)),
                "migrated_at": _when(u.migrated_at),
            }
            for u in LegacyUser.objects.filter(email__iexact=email)
        ],
    }


def _end_memberships(profile: UserProfile) -> int:
    """End every membership without the owner and last-administrator rules: erasure must go through."""
    ended = 0
    for membership in Membership.objects.current().filter(profile=profile).order_by("company_id"):
        company = Company.objects.select_for_update(no_key=True).get(pk=membership.company_id)
        if membership.status == MembershipStatus.ACTIVE:
            Company.objects.filter(pk=company.pk).update(active_members=F("active_members") - 1)
        Membership.objects.filter(pk=membership.pk).update(
            status=MembershipStatus.ENDED, ended_at=timezone.now(), updated_at=timezone.now()
        )
        ended += 1
    Company.objects.filter(owner=profile).update(owner=None)
    return ended


@transaction.atomic
def person_erase(*, profile: UserProfile, erased_by: str) -> PersonErasure:
    """Erase a person: personal data removed or anonymised everywhere, the Cognito user deleted.

    `erased_by` names the staff user or API caller, for the audit record.
    """
    profile = UserProfile.objects.select_for_update().get(pk=profile.pk)
    email, username, sub, pk = profile.email, profile.username, profile.cognito_sub, profile.pk
    erased_email = f"erased-{pk}@{ERASED_DOMAIN}"
    subject = profile_subject(profile)
    tables: dict[str, int] = {}

    tables["tenants_membership"] = _end_memberships(profile)
    tables["tenants_workspace"] = Workspace.objects.filter(owner=profile).delete()[0]
    tables["tenants_knowndevice"] = KnownDevice.objects.filter(profile=profile).delete()[0]
    tables["tenants_activityevent"] = ActivityEvent.objects.filter(profile=profile).delete()[0]
    tables["tenants_legacyuser"] = LegacyUser.objects.filter(email__iexact=email).delete()[0] if email else 0
    tables["invites_invitation"] = (
        Invitation.objects.filter(Q(email=email) | Q(accepted_by=profile)).update(email=erased_email)
        if email
        else 0
    )
    tables["invites_signuprefusal"] = (
        SignupRefusal.objects.filter(email=email).update(email="") if email else 0
    )
    tables["triggers_logincode"] = LoginCode.objects.filter(
        Q(cognito_sub=sub) | Q(username=username)
    ).delete()[0]
    # The bodies and addresses the outbox kept for this person; the rows stay for the record.
    tables["outbox_sideeffect"] = SideEffect.objects.filter(subject=subject).update(payload={}, last_error="")
    if apps.is_installed("django.contrib.admin"):
        from django.contrib.admin.models import LogEntry  # the trigger Lambda has no admin app

        tables["django_admin_log"] = LogEntry.objects.filter(
            content_type__app_label="tenants", content_type__model="userprofile", object_id=str(pk)
        ).update(object_repr=f"erased profile {pk}")

    UserProfile.objects.filter(pk=pk).update(
        cognito_sub=f"erased:{pk}",
        username=f"erased-{pk}",
        email=erased_email,
        given_name="",
        family_name="",
        preferences=default_preferences(),
        signup_source="",
        signup_campaign="",
        signup_referrer="",
        status=Status.SUSPENDED,
        company=None,
        role=None,
        active_company=None,
        updated_at=timezone.now(),
    )
    tables["tenants_userprofile"] = 1
    if settings.COGNITO_USER_POOL_ID and username:
        side_effect_enqueue(
            key=f"erase:{pk}",
            kind=SideEffectKind.COGNITO_DELETE_USER,
            payload={"user_pool_id": settings.COGNITO_USER_POOL_ID, "username": username},
            subject=subject,
        )
    return PersonErasure.objects.create(profile_id=pk, erased_by=erased_by[:200], tables=tables)
