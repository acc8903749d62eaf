"""Members of a company: list, show, change role, suspend, reactivate, remove, transfer ownership."""

# No `from __future__ import annotations`: Django Ninja reads these views' annotations at
# import time, and through @transaction.atomic it would look them up in the wrong module.
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Query, Router

from api.context import caller, record
from api.problems import Problem
from api.schemas import ChangedOut, MemberFilters, MemberOut, MemberPage, OwnerIn, RoleChangeIn
from tenants.access import MemberAccess
from tenants.grants import member_action_refusal, member_role_change_refusal
from tenants.memberships import (
    membership_change_role,
    membership_reactivate,
    membership_remove,
    membership_suspend,
    ownership_transfer,
)
from tenants.models import Membership
from tenants.selectors import company_member, company_members, company_role

router = Router(tags=["members"])
MANAGE = "users:manage"


def member_out(member: Membership, owner_id: int | None) -> dict[str, Any]:
    profile = member.profile
    return {
        "id": member.pk,
        "profile_id": profile.pk,
        "email": profile.email,
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "role": member.role.key if member.role is not None else None,
        "status": member.status,
        "route": member.route,
        "is_owner": owner_id == profile.pk,
        "created_at": member.created_at,
    }


def _member(access: MemberAccess, member_id: int) -> Membership:
    member = company_member(company=access.company, member_id=member_id)
    if member is None:
        raise Http404
    return member


def _may_act_on(access: MemberAccess, member: Membership) -> None:
    refusal = member_action_refusal(target=member.role, held=access.permissions)
    if refusal:
        raise Problem("role-not-grantable", refusal)


@router.get("/companies/{company_id}/members", response=MemberPage)
def member_list(
    request: HttpRequest,
    company_id: int,
    filters: Query[MemberFilters],
) -> dict[str, Any]:
    access = caller(request, company_id, MANAGE)
    members = company_members(
        company=access.company, search=filters.search, role_key=filters.role, status=filters.status or ""
    )
    owner_id = access.company.owner_id
    page = members[filters.offset : filters.offset + filters.limit]
    return {"count": members.count(), "items": [member_out(m, owner_id) for m in page]}


@router.get("/companies/{company_id}/members/{member_id}", response=MemberOut)
def member_show(request: HttpRequest, company_id: int, member_id: int) -> dict[str, Any]:
    access = caller(request, company_id, MANAGE)
    return member_out(_member(access, member_id), access.company.owner_id)


@router.put("/companies/{company_id}/members/{member_id}/role", response=MemberOut)
@transaction.atomic
def member_role_change(
    request: HttpRequest, company_id: int, member_id: int, payload: RoleChangeIn
) -> dict[str, Any]:
    access = caller(request, company_id, MANAGE)
    member = _member(access, member_id)
    role = company_role(company=access.company, role_id=payload.role_id)
    if role is None:
        raise Problem("invalid-request", errors=[{"field": "role_id", "message": "No such role here."}])
    refusal = member_role_change_refusal(old=member.role, new=role, held=access.permissions)
    if refusal:
        raise Problem("role-not-grantable", refusal)
    old_key = member.role.key if member.role is not None else None
    if membership_change_role(membership=member, role=role):
        record(
            request,
            access,
            action="membership.change_role",
            object_type="membership",
            object_id=member.pk,
            before={"role": old_key},
            after={"role": role.key},
        )
    return member_out(member, access.company.owner_id)


def _status_change(request: HttpRequest, company_id: int, member_id: int, action: str, change: Any) -> Any:
    access = caller(request, company_id, MANAGE)
    member = _member(access, member_id)
    _may_act_on(access, member)
    before = member.status
    changed = change(membership=member)
    if changed:
        record(
            request,
            access,
            action=f"membership.{action}",
            object_type="membership",
            object_id=member.pk,
            before={"status": before},
            after={"status": member.status},
        )
    return {"changed": changed}


@router.post("/companies/{company_id}/members/{member_id}/suspend", response=ChangedOut)
@transaction.atomic
def member_suspend(request: HttpRequest, company_id: int, member_id: int) -> Any:
    return _status_change(request, company_id, member_id, "suspend", membership_suspend)


@router.post("/companies/{company_id}/members/{member_id}/reactivate", response=ChangedOut)
@transaction.atomic
def member_reactivate(request: HttpRequest, company_id: int, member_id: int) -> Any:
    return _status_change(request, company_id, member_id, "reactivate", membership_reactivate)


@router.delete("/companies/{company_id}/members/{member_id}", response=ChangedOut)
@transaction.atomic
def member_remove(request: HttpRequest, company_id: int, member_id: int) -> Any:
    return _status_change(request, company_id, member_id, "remove", membership_remove)


@router.put("/companies/{company_id}/owner", response=ChangedOut)
@transaction.atomic
def owner_transfer(request: HttpRequest, company_id: int, payload: OwnerIn) -> Any:
    # Only someone holding everything the company can hand out gives it away: '*' or company:manage.
    access = caller(request, company_id, "company:manage")
    member = _member(access, payload.member_id)
    before = access.company.owner_id
    changed = ownership_transfer(company=access.company, to=member.profile)
    if changed:
        record(
            request,
            access,
            action="company.transfer_ownership",
            object_type="company",
            object_id=access.company.pk,
            before={"owner_profile_id": before},
            after={"owner_profile_id": member.profile_id},
        )
    return {"changed": changed}
