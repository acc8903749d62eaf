"""Invite by creating the Cognito user (AdminCreateUser), for pools without self sign-up."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction

from invites.models import Invitation
from invites.services import IssuedInvitation, invitation_accept, invitation_create, invitation_revoke
from outbox.aws import client
from outbox.models import SideEffectKind
from outbox.services import side_effect_enqueue
from tenants.messages import profile_subject
from tenants.models import Company, Role, UserProfile


def invitation_create_cognito_user(
    *,
    company: Company,
    email: str,
    role: Role,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    expires_at: datetime | None = None,
) -> IssuedInvitation:
    """Invite by creating the Cognito user (AdminCreateUser), for pools without self sign-up.

    Cognito emails the temporary password itself, through the custom message trigger
    (cm_admin_create_user). The invitation is committed before the call, because Cognito
    runs pre sign-up (PreSignUp_AdminCreateUser) during it and that trigger must find it;
    call this outside a transaction. Post confirmation never runs for such users, so the
    profile is bound here at once: created on the returned sub, invitation accepted, and
    the role's Cognito group queued. If Cognito refuses, the invitation is revoked.
    """
    # boto3 only on this admin path: the trigger import path stays free of it.
    from botocore.exceptions import BotoCoreError, ClientError

    if not settings.COGNITO_USER_POOL_ID:
        raise ValidationError("COGNITO_USER_POOL_ID is not set: Gatehouse cannot create Cognito users.")
    issued = invitation_create(
        company=company, email=email, role=role, created_by=created_by, expires_at=expires_at
    )
    invitation = issued.invitation
    try:
        response = client("cognito-idp").admin_create_user(
            UserPoolId=settings.COGNITO_USER_POOL_ID,
            Username=invitation.email,
            UserAttributes=[
                {"Name": "email", "Value": invitation.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            # No code in ClientMetadata: pre sign-up binds an admin-created user's invitation
            # by the operator-asserted email (accounts.sign_up.signup_evaluate).
            DesiredDeliveryMediums=["EMAIL"],
        )
    except (ClientError, BotoCoreError) as exc:
        invitation_revoke(invitation=invitation)
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
        message = {
            "UsernameExistsException": f"{invitation.email} already has a Cognito account.",
            "UserLambdaValidationException": "The pre sign-up trigger refused this user.",
        }.get(code, f"Cognito refused to create the user ({code}).")
        raise ValidationError({"email": message}) from exc
    user = response["User"]
    attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
    username = user["Username"]
    with transaction.atomic():
        profile, _ = UserProfile.objects.get_or_create(
            cognito_sub=attributes.get("sub") or username,
            defaults={"username": username, "email": invitation.email},
        )
        Invitation.objects.filter(pk=invitation.pk).update(reserved_for_username=username)
        invitation = invitation_accept(invitation=invitation, profile=profile)
        side_effect_enqueue(
            key=f"invitation:{invitation.pk}:cognito_group",
            kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
            payload={
                "user_pool_id": settings.COGNITO_USER_POOL_ID,
                "username": username,
                "group": role.group_name,
                "precedence": role.precedence,
            },
            subject=profile_subject(profile),
        )
    return IssuedInvitation(invitation=invitation, code=issued.code)
