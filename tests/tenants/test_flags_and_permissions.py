import pytest

from tenants.models import FeatureFlag, FeatureFlagOverride, UserProfile
from tenants.selectors import company_effective_flags, company_flag_report, profile_permissions

pytestmark = pytest.mark.django_db


def test_effective_flags_override_beats_tier_beats_default(acme):
    FeatureFlag.objects.create(key="reports", enabled_tiers=["pro"])
    FeatureFlag.objects.create(key="exports", default_enabled=True)
    FeatureFlag.objects.create(key="sso", enabled_tiers=["enterprise"])
    beta = FeatureFlag.objects.create(key="beta", default_enabled=False, enabled_tiers=["pro"])
    FeatureFlagOverride.objects.create(flag=beta, company=acme, enabled=False)

    report = {d.key: (d.enabled, d.reason) for d in company_flag_report(company=acme)}

    assert report == {
        "beta": (False, "override"),
        "exports": (True, "default"),
        "reports": (True, "tier"),
        "sso": (False, "default"),
    }
    assert company_effective_flags(company=None) == {
        "beta": False,
        "exports": True,
        "reports": False,
        "sso": False,
    }


def test_permissions_come_from_the_role_and_star_means_all(acme, roles):
    admin = UserProfile.objects.create(
        cognito_sub="a", username="a", email="a@acme.com", company=acme, role=roles["ADMIN"]
    )
    boss = UserProfile.objects.create(
        cognito_sub="b", username="b", email="b@acme.com", company=acme, role=roles["SUPER_ADMIN"]
    )
    nobody = UserProfile.objects.create(cognito_sub="c", username="c", email="c@x.com")

    assert profile_permissions(profile=admin) == ["profile:read", "users:invite"]
    assert profile_permissions(profile=boss) == ["*"]
    assert profile_permissions(profile=nobody) == []


def test_a_suspended_profile_has_no_permissions(acme, roles):
    profile = UserProfile.objects.create(
        cognito_sub="a",
        username="a",
        email="a@acme.com",
        company=acme,
        role=roles["ADMIN"],
        status="suspended",
    )
    assert profile_permissions(profile=profile) == []
