"""Memberships: a person joins, changes role, is suspended, leaves; a company changes owner.

Every write that can change who administers a company, or how many seats are taken, locks
the company row first (SELECT ... FOR NO KEY UPDATE), so two concurrent demotions cannot
both pass the "someone else is still an administrator" check, and two concurrent joins
cannot both take the last seat. The seat count is `Company.active_members`, kept here under
that lock, so checking a seat reads one row whatever the company's size.

While UserProfile.company and .role still exist (expand/contract: they go in a later
release), every change here writes them alongside, mirroring the active company's
membership, so code of the previous release reads what this release decided.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.db import insert_unless_exists
from outbox.models import SideEffectKind
from outbox.services import side_effect_enqueue
from tenants.messages import profile_subject
from tenants.models import Company, Membership, MembershipRoute, MembershipStatus, Role, UserProfile

# A role with either of these may manage the company's members: the company must keep one.
ADMIN_PERMISSIONS = frozenset({"*", "users:manage"})


class MembershipError(Exception):
    """A membership change that is not allowed. `reason` is stable; `message` is safe to show.

    Reasons shared with sign-up refusals use invites.models.RefusalReason's values
    (company_full, company_suspended), so callers there can record them as they are.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def role_is_admin(role: Role | None) -> bool:
    return role is not None and bool(ADMIN_PERMISSIONS & set(role.permissions or ()))


def _lock_company(company_id: int) -> Company:
    return Company.objects.select_for_update(no_key=True).get(pk=company_id)


def _lock_membership(membership: Membership) -> Membership:
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("role", "profile")
        .get(pk=membership.pk)
    )


def _seat_free(company: Company) -> bool:
    return company.seat_limit is None or company.active_members < company.seat_limit


def _count(company: Company, delta: int) -> None:
    Company.objects.filter(pk=company.pk).update(active_members=F("active_members") + delta)
    company.active_members += delta


def _other_admins(company: Company, *, excluding: Membership) -> bool:
    return (
        Membership.objects.active()
        .filter(company=company)
        .exclude(pk=excluding.pk)
        .filter(role__permissions__overlap=sorted(ADMIN_PERMISSIONS))
        .exists()
    )


def _keep_an_admin(company: Company, membership: Membership) -> None:
    """Refuse a change that would leave the company without an active administrator or owner."""
    if company.owner_id == membership.profile_id:
        raise MembershipError(
            "owner", "The company's owner cannot be removed, suspended or demoted: transfer ownership first."
        )
    if (
        membership.is_active
        and role_is_admin(membership.role)
        and not _other_admins(company, excluding=membership)
    ):
        raise MembershipError("last_admin", "The company would have no administrator left.")


def _mirror(profile: UserProfile) -> None:
    """Write the active company's membership into the old columns (until they are dropped)."""
    active = (
        Membership.objects.active()
        .filter(profile_id=profile.pk, company_id=profile.active_company_id)
        .first()
        if profile.active_company_id
        else None
    )
    profile.company_id = active.company_id if active else None
    profile.role_id = active.role_id if active else None
    UserProfile.objects.filter(pk=profile.pk).update(
        company_id=profile.company_id,
        role_id=profile.role_id,
        active_company_id=profile.active_company_id,
        updated_at=timezone.now(),
    )


def _move_active_company(profile: UserProfile, *, away_from: int) -> None:
    if profile.active_company_id != away_from:
        return
    other = (
        Membership.objects.active()
        .filter(profile_id=profile.pk)
        .exclude(company_id=away_from)
        .order_by("-created_at")
        .values_list("company_id", flat=True)
        .first()
    )
    profile.active_company_id = other


def _groups_needed(profile: UserProfile) -> set[str]:
    roles = Role.objects.filter(memberships__profile=profile, memberships__status=MembershipStatus.ACTIVE)
    return {role.group_name for role in roles}


def _cognito_groups(
    profile: UserProfile, *, key: str, add: Iterable[Role] = (), drop: Iterable[Role] = ()
) -> None:
    """Queue the Cognito group changes: add the new role's group, drop groups no membership needs."""
    if not settings.COGNITO_USER_POOL_ID or not profile.username:
        return
    needed = _groups_needed(profile)
    for role in add:
        side_effect_enqueue(
            key=f"{key}:add:{role.group_name}",
            kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
            payload={
                "user_pool_id": settings.COGNITO_USER_POOL_ID,
                "username": profile.username,
                "group": role.group_name,
                "precedence": role.precedence,
            },
            subject=profile_subject(profile),
        )
    for role in drop:
        if role.group_name in needed:
            continue  # another membership still needs this group
        side_effect_enqueue(
            key=f"{key}:remove:{role.group_name}",
            kind=SideEffectKind.COGNITO_REMOVE_FROM_GROUP,
            payload={
                "user_pool_id": settings.COGNITO_USER_POOL_ID,
                "username": profile.username,
                "group": role.group_name,
            },
            subject=profile_subject(profile),
        )


def _atomic_unless_nested[F: Callable[..., Any]](func: F) -> F:
    """Atomic on its own; inside a caller's transaction, no savepoint of its own.

    membership_add runs in every sign-up's transaction (post confirmation) and raises only
    before it writes anything, so a savepoint (two more statements) would protect nothing.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if transaction.get_connection().in_atomic_block:
            return func(*args, **kwargs)
        with transaction.atomic():
            return func(*args, **kwargs)

    return cast("F", wrapper)


@_atomic_unless_nested
def membership_add(
    *, profile: UserProfile, company: Company, role: Role | None, route: str = MembershipRoute.STAFF
) -> Membership:
    """Make a person an active member of a company, within its seats. Idempotent.

    An active or suspended membership is returned unchanged (a retried trigger, a second
    invitation); an ended one is reactivated with this role. The first administrator of a
    company without an owner becomes its owner. Four statements for a new member: the
    company row lock, the insert, the seat count (and owner), the profile's columns.
    """
    company = _lock_company(company.pk)
    if role is not None and role.company_id not in (None, company.pk):
        raise MembershipError("role_elsewhere", f"The role {role.key} belongs to another company.")
    refusal = None
    if not company.is_active:
        refusal = MembershipError("company_suspended", "This company's account is suspended")
    elif not _seat_free(company):
        refusal = MembershipError("company_full", "This company has no free seats. Ask an administrator")
    if refusal is not None:
        # A member already (a replayed trigger) is not refused for a seat they hold.
        current = Membership.objects.current().filter(profile=profile, company=company).first()
        if current is not None:
            return current
        raise refusal
    membership = Membership(profile=profile, company=company, role=role, route=route)
    if not insert_unless_exists(membership):
        existing = Membership.objects.select_for_update().get(profile=profile, company=company)
        if existing.status != MembershipStatus.ENDED:
            return existing
        existing.status, existing.role, existing.route, existing.ended_at = (
            MembershipStatus.ACTIVE,
            role,
            route,
            None,
        )
        existing.save(update_fields=["status", "role", "route", "ended_at", "updated_at"])
        membership = existing
    becomes_owner = company.owner_id is None and role_is_admin(role)
    Company.objects.filter(pk=company.pk).update(
        active_members=F("active_members") + 1, **({"owner": profile} if becomes_owner else {})
    )
    company.active_members += 1
    if becomes_owner:
        company.owner = profile
    if profile.active_company_id in (None, company.pk):
        # This membership is (now) the active company's: the old columns mirror it.
        # Objects, not ids: the caller (onboarding) reads profile.company and .role next.
        profile.active_company_id, profile.company, profile.role = company.pk, company, role
        UserProfile.objects.filter(pk=profile.pk).update(
            active_company_id=company.pk,
            company_id=company.pk,
            role_id=profile.role_id,
            updated_at=timezone.now(),
        )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: Role, key: str = "") -> bool:
    """Give a member another role of their company (or a global one); False if unchanged.

    Refused when it would demote the owner or the last active administrator.
    """
    company = _lock_company(membership.company_id)
    locked = _lock_membership(membership)
    if role.company_id not in (None, company.pk):
        raise MembershipError("role_elsewhere", f"The role {role.key} belongs to another company.")
    old = locked.role
    if old is not None and old.pk == role.pk:
        return False
    if role_is_admin(old) and not role_is_admin(role):
        _keep_an_admin(company, locked)
    locked.role = role
    locked.save(update_fields=["role", "updated_at"])
    _mirror(locked.profile)
    if locked.is_active and (old is None or old.group_name != role.group_name):
        _cognito_groups(
            locked.profile,
            key=key or f"membership:{locked.pk}:role:{role.pk}:{timezone.now().timestamp()}",
            add=[role],
            drop=[old] if old is not None else [],
        )
    membership.role = role
    return True


@transaction.atomic
def membership_suspend(*, membership: Membership) -> bool:
    """Suspend a person in this company only (their other memberships go on); False if not active."""
    company = _lock_company(membership.company_id)
    locked = _lock_membership(membership)
    if locked.status != MembershipStatus.ACTIVE:
        return False
    _keep_an_admin(company, locked)
    locked.status = MembershipStatus.SUSPENDED
    locked.save(update_fields=["status", "updated_at"])
    _count(company, -1)
    _mirror(locked.profile)
    membership.status = locked.status
    return True


@transaction.atomic
def membership_reactivate(*, membership: Membership) -> bool:
    """Lift a suspension in this company, within its seats; False if it was not suspended."""
    company = _lock_company(membership.company_id)
    locked = _lock_membership(membership)
    if locked.status != MembershipStatus.SUSPENDED:
        return False
    if not _seat_free(company):
        raise MembershipError("company_full", "This company has no free seats. Ask an administrator")
    locked.status = MembershipStatus.ACTIVE
    locked.save(update_fields=["status", "updated_at"])
    _count(company, +1)
    _mirror(locked.profile)
    membership.status = locked.status
    return True


@transaction.atomic
def membership_remove(*, membership: Membership, key: str = "") -> bool:
    """End a membership: no role, permissions or flags of this company at the next token refresh.

    The Cognito group goes when no other membership needs it; the person's active company
    moves to another active membership, or to none. Cognito has no per-company session, so
    no one is signed out here (tokens already issued live until they expire).
    """
    company = _lock_company(membership.company_id)
    locked = _lock_membership(membership)
    if locked.status == MembershipStatus.ENDED:
        return False
    _keep_an_admin(company, locked)
    was_active = locked.is_active
    locked.status, locked.ended_at = MembershipStatus.ENDED, timezone.now()
    locked.save(update_fields=["status", "ended_at", "updated_at"])
    if was_active:
        _count(company, -1)
    profile = locked.profile
    _move_active_company(profile, away_from=company.pk)
    _mirror(profile)
    if locked.role is not None:
        _cognito_groups(
            profile,
            key=key or f"membership:{locked.pk}:removed:{locked.ended_at.timestamp()}",
            drop=[locked.role],
        )
    membership.status = locked.status
    return True


@transaction.atomic
def ownership_transfer(*, company: Company, to: UserProfile) -> bool:
    """Make another active administrator the owner; False if they already are."""
    company = _lock_company(company.pk)
    if company.owner_id == to.pk:
        return False
    target = Membership.objects.active().select_related("role").filter(company=company, profile=to).first()
    if target is None:
        raise MembershipError("not_member", "The new owner must be an active member of the company.")
    if not role_is_admin(target.role):
        raise MembershipError("not_admin", "Make the new owner an administrator first.")
    Company.objects.filter(pk=company.pk).update(owner=to, updated_at=timezone.now())
    company.owner = to
    return True


@transaction.atomic
def active_company_switch(*, profile: UserProfile, company: Company) -> None:
    """Choose the company the person's next token is about; they must be an active member there."""
    locked = UserProfile.objects.select_for_update().get(pk=profile.pk)
    if not Membership.objects.active().filter(profile=locked, company=company).exists():
        raise MembershipError("not_member", "You are not an active member of this company.")
    locked.active_company_id = company.pk
    _mirror(locked)
    profile.active_company_id, profile.company_id, profile.role_id = (
        locked.active_company_id,
        locked.company_id,
        locked.role_id,
    )


def memberships_of(profile: UserProfile) -> list[Membership]:
    """A person's current (active or suspended) memberships, newest first, with company and role."""
    return list(Membership.objects.current().filter(profile=profile).select_related("company", "role"))


def membership_for(*, profile_id: int, company_id: int, active_only: bool = True) -> Membership | None:
    queryset: Any = Membership.objects.active() if active_only else Membership.objects.current()
    result: Membership | None = (
        queryset.filter(profile_id=profile_id, company_id=company_id)
        .select_related("role", "company")
        .first()
    )
    return result
