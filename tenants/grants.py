"""Who may grant which role: the one rule every path that hands out a role asks.

A role's permissions are what its holder may do in the customer's app. A staff account
*holds* the permissions its staff group gives it, and nobody grants a role carrying a
permission they do not hold:

- Superusers and Administrators hold every permission, '*' included. Administrators hold
  `tenants.change_role`: they can already write any permission into any role, so letting
  them grant any role adds nothing they could not do.
- Every other staff account (Support) holds every permission except the admin-level ones:
  '*' and any wildcard (`invoices:*` covers permissions nobody has named yet, so nobody has
  judged them), and every permission of a resource that controls access itself
  (settings.ROLE_ADMIN_LEVEL_RESOURCES, by default `users`, `roles`, `admin`: a holder of
  `users:invite` or `users:manage` hands out access in the customer's app). Without this a
  Support member could invite their own address as SUPER_ADMIN of any company.
- An anonymous, inactive or non-staff actor holds nothing.

Callers: invites.services (invitation_validate, invitation_rows_parse, so invitation_create,
invitation_bulk_create and invitation_create_cognito_user), tenants.services.profile_change_role
and the admin forms that offer a role. docs/admin.md shows the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from tenants.models import Role

# The permission that marks a staff account as holding every permission (Administrators).
GRANT_ANY_ROLE_PERMISSION = "tenants.change_role"


def role_admin_level_permissions(role: Role) -> list[str]:
    """The permissions of `role` that only superusers and Administrators hold."""
    resources = set(settings.ROLE_ADMIN_LEVEL_RESOURCES)
    return [p for p in role.permissions if "*" in p or p.split(":", 1)[0] in resources]


def role_grantable_by(*, role: Role, actor: Any) -> bool:
    """Whether the staff account `actor` holds every permission of `role`, and so may grant it."""
    if actor is None or not actor.is_authenticated or not actor.is_active or not actor.is_staff:
        return False
    if actor.is_superuser or actor.has_perm(GRANT_ANY_ROLE_PERMISSION):
        return True
    return not role_admin_level_permissions(role)


def role_grant_refusal(role: Role) -> str:
    """What staff see when role_grantable_by said no."""
    held_back = ", ".join(role_admin_level_permissions(role)) or "nothing"
    return f"Only Administrators may grant the role {role.key}: it carries {held_back}."


def role_change_refusal(*, old: Role | None, new: Role, actor: Any) -> str:
    """Why `actor` may not move a member from `old` to `new`; empty when they may.

    Taking a role away needs the same standing as granting it: demoting a company's
    SUPER_ADMIN is as much an Administrator's decision as appointing one.
    """
    if not role_grantable_by(role=new, actor=actor):
        return role_grant_refusal(new)
    if old is not None and not role_grantable_by(role=old, actor=actor):
        held_back = ", ".join(role_admin_level_permissions(old))
        return f"Only Administrators may change the role of a {old.key}: it carries {held_back}."
    return ""
