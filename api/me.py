"""The caller themselves: profile, memberships, preferences, active company, their data."""

# No `from __future__ import annotations`: Django Ninja reads these views' annotations at
# import time, and through @transaction.atomic it would look them up in the wrong module.
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router

from accounts.privacy import person_export
from api.context import caller, principal, record
from api.problems import Problem
from api.schemas import ActiveCompanyIn, MeOut, PreferencesIn, PreferencesOut
from invites.selectors import invitations_pending_for_email
from tenants.access import person_for
from tenants.memberships import active_company_switch, memberships_of
from tenants.models import Company
from tenants.preferences import profile_preferences_update
from tenants.selectors import company_effective_flags

router = Router(tags=["me"])


def _company_ref(company: Company) -> dict[str, Any]:
    return {"id": company.pk, "name": company.name, "slug": company.slug}


@router.get("/me", response=MeOut)
def me_show(request: HttpRequest) -> dict[str, Any]:
    profile = person_for(sub=principal(request).sub)
    memberships = memberships_of(profile)
    active = next((m for m in memberships if m.company_id == profile.active_company_id and m.is_active), None)
    usable = active is not None and active.company.is_active
    role = active.role if active is not None and usable else None
    permissions = sorted(set(role.permissions)) if role is not None else []
    return {
        "profile": {
            "id": profile.pk,
            "email": profile.email,
            "given_name": profile.given_name,
            "family_name": profile.family_name,
            "preferences": profile.preferences or {},
        },
        "active_company": _company_ref(active.company) if active is not None else None,
        "role": role.key if role is not None else None,
        "permissions": permissions,
        "flags": company_effective_flags(company=active.company) if active is not None and usable else {},
        "memberships": [
            {
                "company": _company_ref(m.company),
                "role": m.role.key if m.role is not None else None,
                "status": m.status,
            }
            for m in memberships
        ],
        "pending_invitations": [
            {
                "id": i.pk,
                "company": _company_ref(i.company),
                "role": i.role.key,
                "expires_at": i.expires_at,
            }
            for i in invitations_pending_for_email(email=profile.email)
        ],
    }


@router.patch("/me/preferences", response=PreferencesOut)
def me_preferences_update(request: HttpRequest, payload: PreferencesIn) -> dict[str, Any]:
    """Theme, language and notifications; the next token carries them."""
    profile = person_for(sub=principal(request).sub)
    notifications = payload.notifications.dict(exclude_none=True) if payload.notifications else None
    try:
        _before, after = profile_preferences_update(
            profile=profile, theme=payload.theme, language=payload.language, notifications=notifications
        )
    except ValueError as error:
        raise Problem("invalid-request", errors=[{"field": "body", "message": str(error)}]) from error
    return {"preferences": after}


@router.put("/me/active-company", response=MeOut)
@transaction.atomic
def me_active_company_switch(request: HttpRequest, payload: ActiveCompanyIn) -> dict[str, Any]:
    """Choose the company the next token is about (an active membership there is required)."""
    access = caller(request, payload.company_id)
    before = access.profile.active_company_id
    active_company_switch(profile=access.profile, company=access.company)
    if before != access.company.pk:
        record(
            request,
            access,
            action="profile.switch_company",
            object_type="profile",
            object_id=access.profile.pk,
            before={"active_company_id": before},
            after={"active_company_id": access.company.pk},
        )
    return me_show(request)


@router.get("/me/export", response=dict[str, Any])
def me_export(request: HttpRequest) -> dict[str, Any]:
    """Everything Gatehouse holds on the caller (GDPR art. 15 and 20), as JSON."""
    return person_export(profile=person_for(sub=principal(request).sub))
