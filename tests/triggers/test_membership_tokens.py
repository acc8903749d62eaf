"""Tokens follow memberships: the active company decides the claims, the others are listed,
and a removed or suspended membership is gone from the next refresh."""

from __future__ import annotations

import json

import pytest

from tenants.memberships import (
    active_company_switch,
    membership_add,
    membership_remove,
    membership_suspend,
)
from tenants.models import Company, FeatureFlag, FeatureFlagOverride, UserProfile
from tests.triggers.helpers import reference_raw as reference
from triggers import claims as claims_module
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

GO_V2 = "aws-lambda-go__cognito-event-userpools-pretokengen-v2.json"
GO_SUB = "a36036a8-9061-424d-a737-56d57dae7bc6"


@pytest.fixture
def two_companies(acme, roles):
    globex = Company.objects.create(name="Globex", slug="globex", subscription_tier="free")
    exports = FeatureFlag.objects.create(key="exports", default_enabled=False)
    FeatureFlag.objects.create(key="reports", enabled_tiers=["pro"])
    FeatureFlagOverride.objects.create(flag=exports, company=globex, enabled=True)
    keeper = UserProfile.objects.create(cognito_sub="keeper", username="k", email="k@acme.com")
    membership_add(profile=keeper, company=acme, role=roles["SUPER_ADMIN"])  # acme's owner
    person = UserProfile.objects.create(cognito_sub=GO_SUB, username="testqq", email="test@mail.com")
    in_acme = membership_add(profile=person, company=acme, role=roles["ADMIN"])
    in_globex = membership_add(profile=person, company=globex, role=roles["USER"])
    return person, globex, in_acme, in_globex


def id_claims() -> dict[str, str]:
    claims_module.claims_cache_clear()
    details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]
    return details["idTokenGeneration"]["claimsToAddOrOverride"]


def test_two_companies_give_different_tokens_after_a_switch(two_companies, acme):
    person, globex, _, _ = two_companies

    in_acme = id_claims()
    assert (in_acme["custom:companyId"], in_acme["custom:role"]) == (str(acme.pk), "ADMIN")
    assert json.loads(in_acme["custom:features"]) == ["reports"]
    assert json.loads(in_acme["custom:companies"]) == {str(globex.pk): "USER"}

    active_company_switch(profile=person, company=globex)
    in_globex = id_claims()
    assert (in_globex["custom:companyId"], in_globex["custom:companyName"]) == (str(globex.pk), "Globex")
    assert in_globex["custom:role"] == "USER"
    assert json.loads(in_globex["custom:permissions"]) == ["profile:read"]
    assert json.loads(in_globex["custom:features"]) == ["exports"]
    assert in_globex["custom:subscriptionTier"] == "free"
    assert json.loads(in_globex["custom:companies"]) == {str(acme.pk): "ADMIN"}


def test_a_removed_membership_is_gone_from_the_next_refresh(two_companies, acme):
    _, globex, in_acme, _ = two_companies

    membership_remove(membership=in_acme)

    claims = id_claims()
    # The active company moved to the membership that is left; nothing of Acme remains.
    assert (claims["custom:companyId"], claims["custom:role"]) == (str(globex.pk), "USER")
    assert "custom:companies" not in claims
    assert str(acme.pk) not in json.dumps(claims)


def test_a_suspended_membership_in_the_active_company_grants_nothing_of_it(two_companies, acme):
    _, globex, in_acme, _ = two_companies

    membership_suspend(membership=in_acme)

    claims = id_claims()
    assert "custom:role" not in claims
    assert "custom:companyId" not in claims
    # As for a person of no company: no permissions, no company flags.
    assert (claims["custom:permissions"], claims["custom:features"]) == ("[]", "[]")
    # Still a member elsewhere: the app can offer that company.
    assert json.loads(claims["custom:companies"]) == {str(globex.pk): "USER"}


def test_the_byte_budget_drops_the_other_companies_first(two_companies, settings):
    full = id_claims()
    settings.CLAIMS_BYTE_BUDGET = claims_module.claims_size(full) - 1

    trimmed = id_claims()

    assert "custom:companies" not in trimmed
    assert trimmed["custom:features"] == full["custom:features"]
