"""What a member may do in a company, decided from the database at the moment of the request.

A token is a snapshot up to its expiry; this is not. The tenant API asks `member_access` on
every request: the person must exist and be active, their membership of the company the
request names must be active, and the company active. A company they are not a member of is
"not found", so another tenant's ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenants.grants import permissions_cover
from tenants.models import AppClient, Company, Membership, MembershipStatus, Status, UserProfile


class AccessDenied(Exception):
    """Refused. `reason` is stable (not_found, person_suspended, membership_suspended,
    company_suspended, permission_missing); `message` is safe to show the caller."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class MemberAccess:
    """A caller's standing in one company, read now."""

    profile: UserProfile
    company: Company
    membership: Membership
    role_key: str
    permissions: tuple[str, ...]

    def allows(self, permission: str) -> bool:
        return permissions_cover(self.permissions, [permission])


def person_for(*, sub: str) -> UserProfile:
    """The active person a token's `sub` names; refused when unknown or suspended everywhere."""
    profile = UserProfile.objects.filter(cognito_sub=sub).first() if sub else None
    if profile is None:
        raise AccessDenied("unknown_person", "No Gatehouse profile belongs to this token's user.")
    if profile.status != Status.ACTIVE:
        raise AccessDenied("person_suspended", "Your account is suspended.")
    return profile


def member_access(
    *, sub: str, company_id: int | None, permission: str | None = None, client_company_id: int | None = None
) -> MemberAccess:
    """The caller's access to `company_id` (None: their active company), in one query.

    Raises AccessDenied; `permission`, when given, must be held through the membership's role.
    `client_company_id`: the token's app client belongs to one company and reaches no other.
    """
    if not sub:
        raise AccessDenied("unknown_person", "No Gatehouse profile belongs to this token's user.")
    memberships = Membership.objects.exclude(status=MembershipStatus.ENDED).select_related(
        "profile", "company", "role"
    )
    wanted: Any = company_id if company_id is not None else _active_company_of(sub)
    membership = memberships.filter(profile__cognito_sub=sub, company_id=wanted).first()
    if membership is None or client_company_id not in (None, membership.company_id):
        person_for(sub=sub)  # an unknown or suspended person hears so, not "not found"
        raise AccessDenied("not_found", "Not found.")
    profile, company = membership.profile, membership.company
    if profile.status != Status.ACTIVE:
        raise AccessDenied("person_suspended", "Your account is suspended.")
    if membership.status != MembershipStatus.ACTIVE:
        raise AccessDenied("membership_suspended", "Your membership of this company is suspended.")
    if company.status != Status.ACTIVE:
        raise AccessDenied("company_suspended", "This company's account is suspended.")
    role = membership.role
    access = MemberAccess(
        profile=profile,
        company=company,
        membership=membership,
        role_key=role.key if role is not None else "",
        permissions=tuple(sorted(set(role.permissions))) if role is not None else (),
    )
    if permission is not None and not access.allows(permission):
        raise AccessDenied("permission_missing", f"Your role does not grant {permission}.")
    return access


def _active_company_of(sub: str) -> object:
    """A subquery: the active company of the person `sub` names (no extra round trip)."""
    return UserProfile.objects.filter(cognito_sub=sub).values("active_company_id")[:1]


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An app client staff allowed to call the tenant API."""

    client_id: str
    name: str
    company_id: int | None
    id_tokens_allowed: bool


def app_client_for(*, client_id: str) -> ApiClient | None:
    """The active app client with this id, read now (staff switch one off, it stops at once)."""
    row = (
        AppClient.objects.filter(client_id=client_id, is_active=True)
        .values_list("client_id", "name", "company_id", "id_tokens_allowed")
        .first()
    )
    return ApiClient(*row) if row is not None else None
