"""Staff actions on a person: suspend, reactivate, change role.

Each changes Gatehouse and queues the matching Cognito call through the outbox in one
transaction, and leaves a line in the admin history (LogEntry) and the activity log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from outbox.models import SideEffectKind
from outbox.services import side_effect_enqueue
from tenants.grants import role_change_refusal
from tenants.memberships import MembershipError, membership_change_role
from tenants.messages import profile_subject
from tenants.models import ActivityEvent, ActivityKind, Membership, Status, UserProfile

logger = logging.getLogger(__name__)


class StaffActionError(Exception):
    """A staff action that cannot be done (a role of another company); the message says why."""


def _staff_action_record(*, profile: UserProfile, actor: Any, action: str, message: str) -> int:
    """History for staff (LogEntry) and the company page (ActivityEvent); returns the LogEntry id."""
    # The admin app is not installed in the trigger Lambda: import it only here.
    from django.contrib.admin.models import CHANGE, LogEntry

    entry = LogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[profile],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )
    ActivityEvent.objects.create(
        kind=ActivityKind.STAFF_ACTION,
        profile=profile,
        company_id=profile.company_id,
        data={"action": action, "staff_user_id": actor.pk},
    )
    return entry.pk


def _cognito_effect(*, kind: str, profile: UserProfile, entry_id: int, **payload: Any) -> bool:
    """Queue one Cognito call for this profile; False when no user pool is configured."""
    if not settings.COGNITO_USER_POOL_ID:
        logger.warning("no COGNITO_USER_POOL_ID: staff action applied in Gatehouse only")
        return False
    side_effect_enqueue(
        # One key per history entry: suspend, reactivate, suspend again are three effects.
        key=f"staff:{kind}:{profile.pk}:{entry_id}",
        kind=kind,
        payload={"user_pool_id": settings.COGNITO_USER_POOL_ID, "username": profile.username, **payload},
        subject=profile_subject(profile),
    )
    return True


def profile_suspend(*, profile: UserProfile, actor: Any, reason: str = "") -> bool:
    """Suspend a user: Gatehouse refuses them, Cognito disables them and signs them out everywhere.

    False (and nothing written) when the profile was already suspended.
    """
    with transaction.atomic():
        locked = UserProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status == Status.SUSPENDED:
            return False
        locked.status = Status.SUSPENDED
        locked.save(update_fields=["status", "updated_at"])
        message = "Suspended (disabled in Cognito, signed out everywhere)." + (
            f" Reason: {reason.strip()[:200]}" if reason.strip() else ""
        )
        entry_id = _staff_action_record(profile=locked, actor=actor, action="suspend", message=message)
        _cognito_effect(kind=SideEffectKind.COGNITO_DISABLE_USER, profile=locked, entry_id=entry_id)
    profile.status = locked.status
    return True


def profile_reactivate(*, profile: UserProfile, actor: Any) -> bool:
    """Lift a suspension in Gatehouse and enable the user in Cognito; False if already active."""
    with transaction.atomic():
        locked = UserProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status == Status.ACTIVE:
            return False
        locked.status = Status.ACTIVE
        locked.save(update_fields=["status", "updated_at"])
        entry_id = _staff_action_record(
            profile=locked, actor=actor, action="reactivate", message="Reactivated (enabled in Cognito)."
        )
        _cognito_effect(kind=SideEffectKind.COGNITO_ENABLE_USER, profile=locked, entry_id=entry_id)
    profile.status = locked.status
    return True


def profile_change_role(*, profile: UserProfile, role: Any, actor: Any) -> bool:
    """Give a member another role in their active company; their Cognito group follows.

    False when they already have that role. Raises StaffActionError for a person with no
    active membership in their active company, a role of another company, a role the actor
    may not grant or take away (tenants.grants), or a change that would leave the company
    without its owner or an administrator (tenants.memberships).
    """
    with transaction.atomic():
        locked = UserProfile.objects.select_for_update(of=("self",)).get(pk=profile.pk)
        membership = (
            Membership.objects.active()
            .select_related("role")
            .filter(profile=locked, company_id=locked.active_company_id)
            .first()
            if locked.active_company_id
            else None
        )
        if membership is None:
            raise StaffActionError("This user belongs to no company, so they cannot hold a role.")
        if role.company_id not in (None, membership.company_id):
            raise StaffActionError(f"The role {role.key} belongs to another company.")
        old = membership.role
        refusal = role_change_refusal(old=old, new=role, actor=actor)
        if refusal:
            raise StaffActionError(refusal)
        if old is not None and old.pk == role.pk:
            return False
        entry_id = _staff_action_record(
            profile=locked,
            actor=actor,
            action="change_role",
            message=f"Role changed from {old.key if old else 'none'} to {role.key}.",
        )
        try:
            membership_change_role(membership=membership, role=role, key=f"staff:role:{locked.pk}:{entry_id}")
        except MembershipError as error:
            raise StaffActionError(error.message) from error
    profile.role = role
    return True
