"""An idempotent demo: Acme with roles, flags, a domain rule, templates, members and an invitation.

The members join the way real ones do: an invitation, then the events Cognito sends for a
sign-up (pre sign-up with the invitation code, post confirmation) and a sign-in (post
authentication), answered by the real trigger dispatcher (triggers.lambda_handler.invoke). With
a user pool configured (make run's cognito-local) each member is also a Cognito user with the
printed password, so the group Gatehouse puts them in exists and they can sign in. One sign-up
without an invitation is refused, as the policy says, so staff see a refusal too.
And a superuser with a fresh password and a TOTP device, whose enrolment URI is printed.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from invites.models import Invitation, SignupPolicy, SignupRefusal
from invites.services import invitation_create
from outbox.aws import client
from tenants.models import (
    Company,
    CompanyDomain,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    Role,
    SubscriptionTier,
    UserProfile,
)
from triggers.errors import Rejection
from triggers.lambda_handler import invoke

GLOBAL_ROLES = [
    ("USER", "User", ["profile:read", "profile:write", "projects:read"], 300),
    (
        "ADMIN",
        "Administrator",
        ["profile:read", "profile:write", "projects:read", "projects:write", "users:invite", "users:manage"],
        200,
    ),
    ("SUPER_ADMIN", "Super administrator", ["*"], 100),
]
FLAGS = [
    (
        "advanced_reports",
        "Reports with drill-down",
        False,
        [SubscriptionTier.PRO, SubscriptionTier.ENTERPRISE],
    ),
    ("sso", "Single sign-on configuration", False, [SubscriptionTier.ENTERPRISE]),
    ("beta_dashboard", "The new dashboard, in beta", False, []),
    ("exports", "CSV exports", True, []),
]
# Who joins Acme through the trigger flow: email, role, given and family name.
MEMBERS = [
    ("alice@acme.com", "ADMIN", "Alice", "Archer"),
    ("bob@acme.com", "USER", "Bob", "Baker"),
    ("dana@acme.com", "USER", "Dana", "Diaz"),
]
# Left pending: its code is printed, for a sign-up of one's own (try-a-trigger, cognito-local).
INVITEE = "carol@acme.com"
# A sign-up with no invitation from an address no company claims: the policy refuses it.
STRANGER = "mallory@example.net"
# The password of the demo members in the local user pool (never a real pool: seeding needs
# an invitation flow that only the demo runs).
MEMBER_PASSWORD = "Demo-password-1"  # noqa: S105 (the local emulator's demo users)
# A stable sub per address without a user pool, so a second run finds the same people.
SUB_NAMESPACE = uuid.UUID("6f1c1d0e-5a4b-4c3d-9e8f-7a6b5c4d3e2f")


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo data and a superuser; prints the login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument(
            "--admin-password",
            default="",
            help="Password for the demo superuser; a new random one is set and printed when empty.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        SignupPolicy.objects.get_or_create(pk=1)
        roles = {}
        for key, name, permissions, precedence in GLOBAL_ROLES:
            roles[key], _ = Role.objects.update_or_create(
                company=None,
                key=key,
                defaults={
                    "name": name,
                    "permissions": permissions,
                    "cognito_group": key,
                    "precedence": precedence,
                },
            )
        acme, _ = Company.objects.update_or_create(
            slug="acme",
            defaults={
                "name": "Acme",
                "subscription_tier": SubscriptionTier.PRO,
                "seat_limit": 50,
                "brand_display_name": "Acme Inc.",
                "brand_sender_name": "Acme",
                "brand_accent_color": "#d9480f",
            },
        )
        CompanyDomain.objects.update_or_create(
            domain="acme.com", defaults={"company": acme, "allow_join": False, "auto_confirm": True}
        )
        Role.objects.update_or_create(
            company=acme,
            key="BILLING",
            defaults={
                "name": "Billing manager",
                "permissions": ["billing:read", "billing:write"],
                "cognito_group": "acme-billing",
            },
        )
        for key, description, default, tiers in FLAGS:
            FeatureFlag.objects.update_or_create(
                key=key,
                defaults={"description": description, "default_enabled": default, "enabled_tiers": tiers},
            )
        FeatureFlagOverride.objects.update_or_create(
            flag=FeatureFlag.objects.get(key="beta_dashboard"),
            company=acme,
            defaults={"enabled": True, "note": "demo"},
        )
        EmailTemplate.objects.get_or_create(
            key="welcome",
            language="en",
            company=acme,
            defaults={
                "subject": "Welcome to Acme, {{ user.given_name|default:'friend' }}",
                "html_body": (
                    "<p>Hello {{ user.given_name }}, welcome to "
                    "<strong>{{ company.display_name }}</strong>.</p>"
                    '<p><a href="{{ app_url }}">Start here</a></p>'
                ),
                "text_body": (
                    "Hello {{ user.given_name }}, welcome to {{ company.display_name }}: {{ app_url }}\n"
                ),
            },
        )
        code = None
        if not Invitation.objects.filter(company=acme, email=INVITEE).exists():
            code = invitation_create(company=acme, email=INVITEE, role=roles["USER"]).code

        user_model = get_user_model()
        username = options["admin_username"]
        password = options["admin_password"] or secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        # The admin asks every staff account for a TOTP code (backoffice/otp.py). The device is
        # kept across runs, so an authenticator app set up once keeps working.
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)

        self.join_members(acme=acme, roles=roles)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: company Acme (acme.com), roles USER/ADMIN/SUPER_ADMIN, 4 flags."
            )
        )
        if code:
            self.stdout.write(f"Invitation for {INVITEE} (USER of Acme), code: {code}")
        self.stdout.write(self.style.SUCCESS(f"Admin login: username {username!r}, password {password!r}"))
        self.stdout.write(
            "Second factor (TOTP): add this URI to an authenticator app, or give it to oathtool:\n"
            f"  {device.config_url}"
        )

    def join_members(self, *, acme: Company, roles: dict[str, Role]) -> None:
        """Invite, sign up, confirm and sign in each demo member through the trigger handlers."""
        pool_id = settings.COGNITO_USER_POOL_ID or "us-east-1_DEMOPOOL"
        if settings.COGNITO_USER_POOL_ID:
            self.pool_groups(list(Role.objects.exclude(cognito_group="")))
        joined = []
        for email, role_key, given_name, family_name in MEMBERS:
            if UserProfile.objects.filter(email=email).exists():
                continue
            issued = invitation_create(company=acme, email=email, role=roles[role_key])
            sub, username = self.pool_user(email)
            attributes = {"sub": sub, "email": email, "given_name": given_name, "family_name": family_name}
            invoke(
                cognito_event(
                    "PreSignUp_SignUp",
                    pool_id=pool_id,
                    username=username,
                    attributes={
                        **attributes,
                        "email_verified": "false",
                        "cognito:user_status": "UNCONFIRMED",
                    },
                    metadata={"invitationCode": issued.code},
                )
            )
            confirmed = {**attributes, "email_verified": "true", "cognito:user_status": "CONFIRMED"}
            invoke(
                cognito_event(
                    "PostConfirmation_ConfirmSignUp", pool_id=pool_id, username=username, attributes=confirmed
                )
            )
            event = cognito_event(
                "PostAuthentication_Authentication", pool_id=pool_id, username=username, attributes=confirmed
            )
            event["request"]["newDeviceUsed"] = False
            invoke(event)
            joined.append(f"{email} ({role_key})")
        if not SignupRefusal.objects.filter(email=STRANGER).exists():
            # A refusal is what the demo wants: it is recorded for staff.
            with contextlib.suppress(Rejection):
                invoke(
                    cognito_event(
                        "PreSignUp_SignUp",
                        pool_id=pool_id,
                        username=str(uuid.uuid5(SUB_NAMESPACE, STRANGER)),
                        attributes={"email": STRANGER, "email_verified": "false"},
                    )
                )
        if joined:
            self.stdout.write(f"Joined Acme through the sign-up triggers: {', '.join(joined)}.")
        if settings.COGNITO_USER_POOL_ID:
            self.stdout.write(
                f"Members sign in to the local user pool with the password {MEMBER_PASSWORD!r}."
            )

    def pool_groups(self, roles: list[Role]) -> None:
        """The roles' Cognito groups in the local pool: post confirmation puts each member in one."""
        cognito = client("cognito-idp")
        pool_id = settings.COGNITO_USER_POOL_ID
        existing = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id).get("Groups", [])}
        for role in roles:
            if role.cognito_group and role.cognito_group not in existing:
                cognito.create_group(
                    UserPoolId=pool_id, GroupName=role.cognito_group, Precedence=role.precedence or 0
                )

    def pool_user(self, email: str) -> tuple[str, str]:
        """The member's sub and username: a user of the configured pool, or a stable made-up one."""
        if not settings.COGNITO_USER_POOL_ID:
            sub = str(uuid.uuid5(SUB_NAMESPACE, email))
            return sub, sub
        cognito = client("cognito-idp")
        pool_id = settings.COGNITO_USER_POOL_ID
        try:
            user = cognito.admin_get_user(UserPoolId=pool_id, Username=email)
            attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
            return attributes["sub"], user["Username"]
        except cognito.exceptions.UserNotFoundException:
            pass
        created = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )["User"]
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=email, Password=MEMBER_PASSWORD, Permanent=True
        )
        attributes = {a["Name"]: a["Value"] for a in created["Attributes"]}
        return attributes["sub"], created["Username"]


def cognito_event(
    source: str,
    *,
    pool_id: str,
    username: str,
    attributes: dict[str, str],
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event shaped as Cognito sends it (the developer guide's common parameters)."""
    request: dict[str, Any] = {"userAttributes": attributes}
    if metadata:
        request["clientMetadata"] = metadata
    return {
        "version": "1",
        "region": settings.AWS_REGION,
        "userPoolId": pool_id,
        "userName": username,
        "callerContext": {
            "awsSdkVersion": "aws-sdk-unknown-unknown",
            "clientId": settings.COGNITO_APP_CLIENT_ID or "demo-app",
        },
        "triggerSource": source,
        "request": request,
        "response": {},
    }
