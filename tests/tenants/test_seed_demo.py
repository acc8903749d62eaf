"""The demo's superuser can sign in: a password and a TOTP device whose URI seed_demo prints."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.otp import totp_code

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_prints_the_totp_uri_beside_the_password(client) -> None:
    output = _seed()

    device = TOTPDevice.objects.get(user__username="admin")
    assert device.confirmed is True
    assert f"\n  {device.config_url}\n" in output
    assert device.config_url.startswith("otpauth://totp/Gatehouse%3Aadmin?secret=")
    password = re.search(r"password '([^']+)'", output)[1]
    # The printed login works end to end: password, then a code from the printed device.
    client.post("/admin/login/", {"username": "admin", "password": password, "next": "/admin/"})
    assert client.post("/admin/second-factor/", {"code": totp_code(device)})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_seed_demo_keeps_the_device_across_runs() -> None:
    _seed()
    first = TOTPDevice.objects.get(user__username="admin")

    output = _seed()

    assert list(TOTPDevice.objects.filter(user__username="admin").values_list("pk", "key")) == [
        (first.pk, first.key)
    ]
    assert first.config_url in output


def test_seed_demo_joins_members_through_the_trigger_flow_once() -> None:
    from invites.models import Invitation, SignupRefusal
    from staff.dashboard import dashboard_data
    from tenants.models import ActivityEvent, ActivityKind, UserProfile

    output = _seed()

    members = {
        p.email: (p.role.key, p.company.slug, p.last_login_at is not None) for p in UserProfile.objects.all()
    }
    assert members == {
        "alice@acme.com": ("ADMIN", "acme", True),
        "bob@acme.com": ("USER", "acme", True),
        "dana@acme.com": ("USER", "acme", True),
    }
    # Each joined by accepting their invitation, the way pre sign-up and post confirmation do.
    assert set(Invitation.objects.filter(accepted_at__isnull=False).values_list("email", flat=True)) == set(
        members
    )
    assert list(Invitation.objects.pending().values_list("email", flat=True)) == ["carol@acme.com"]
    assert [(r.email, r.reason) for r in SignupRefusal.objects.all()] == [
        ("mallory@example.net", "invitation_required")
    ]
    kinds = sorted(
        ActivityEvent.objects.filter(kind__in=[ActivityKind.SIGN_UP, ActivityKind.SIGN_IN]).values_list(
            "kind", flat=True
        )
    )
    assert kinds == sorted([ActivityKind.SIGN_UP] * 3 + [ActivityKind.SIGN_IN] * 3)
    totals = dashboard_data()["totals"]
    assert (totals["sign_ups_7"], totals["sign_ins_7"]) == (3, 3)
    assert (
        "Joined Acme through the sign-up triggers: alice@acme.com (ADMIN), bob@acme.com (USER), "
        "dana@acme.com (USER)." in output
    )

    counts = (
        UserProfile.objects.count(),
        Invitation.objects.count(),
        SignupRefusal.objects.count(),
        ActivityEvent.objects.count(),
    )
    again = _seed()

    assert (
        UserProfile.objects.count(),
        Invitation.objects.count(),
        SignupRefusal.objects.count(),
        ActivityEvent.objects.count(),
    ) == counts
    assert "Joined Acme" not in again
    assert "Invitation for carol@acme.com" not in again


def test_seed_demo_makes_each_member_a_user_of_the_configured_pool(cognito_pool: str) -> None:
    from outbox.aws import client
    from tenants.models import UserProfile

    output = _seed()

    cognito = client("cognito-idp")
    alice = cognito.admin_get_user(UserPoolId=cognito_pool, Username="alice@acme.com")
    sub = {a["Name"]: a["Value"] for a in alice["UserAttributes"]}["sub"]
    assert UserProfile.objects.get(email="alice@acme.com").cognito_sub == sub
    groups = {g["GroupName"] for g in cognito.list_groups(UserPoolId=cognito_pool)["Groups"]}
    assert {"USER", "ADMIN", "SUPER_ADMIN", "acme-billing"} <= groups
    assert "Members sign in to the local user pool with the password 'Demo-password-1'." in output
