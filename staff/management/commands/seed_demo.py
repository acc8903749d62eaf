"""An idempotent demo: Acme with roles, flags, a domain rule, templates and an invitation.

And a superuser with a fresh password and a TOTP device, whose enrolment URI is printed.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from invites.models import Invitation, SignupPolicy
from invites.services import invitation_create
from tenants.models import (
    Company,
    CompanyDomain,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    Role,
    SubscriptionTier,
)

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
        invitation = Invitation.objects.pending().filter(company=acme, email="alice@acme.com").first()
        code = None
        if (
            invitation is None
            and not Invitation.objects.filter(
                company=acme, email="alice@acme.com", accepted_at__isnull=False
            ).exists()
        ):
            code = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"]).code

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

        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: company Acme (acme.com), roles USER/ADMIN/SUPER_ADMIN, 4 flags."
            )
        )
        if code:
            self.stdout.write(f"Invitation for alice@acme.com (ADMIN of Acme), code: {code}")
        self.stdout.write(self.style.SUCCESS(f"Admin login: username {username!r}, password {password!r}"))
        self.stdout.write(
            "Second factor (TOTP): add this URI to an authenticator app, or give it to oathtool:\n"
            f"  {device.config_url}"
        )
