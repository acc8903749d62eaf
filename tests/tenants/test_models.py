import pytest
from django.db import IntegrityError, transaction

from tenants.models import Company, CompanyDomain, Role, UserProfile, Workspace, WorkspaceKind

pytestmark = pytest.mark.django_db


def test_company_slug_is_unique(acme):
    with pytest.raises(IntegrityError):
        Company.objects.create(name="Acme 2", slug="acme")


def test_accent_colour_must_be_hex(acme):
    acme.brand_accent_color = "red;x"
    with pytest.raises(IntegrityError, match="company_accent_color_hex"):
        acme.save()


def test_a_domain_belongs_to_one_company_whatever_its_case(acme):
    other = Company.objects.create(name="Other", slug="other")
    CompanyDomain.objects.create(company=acme, domain="acme.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        CompanyDomain.objects.create(company=other, domain="ACME.com")
    assert CompanyDomain.objects.filter(company=other).count() == 0


def test_global_role_keys_are_unique_but_companies_may_reuse_them(acme, roles):
    with pytest.raises(IntegrityError), transaction.atomic():
        Role.objects.create(key="ADMIN", name="Again")
    company_admin = Role.objects.create(key="ADMIN", name="Acme admin", company=acme)
    assert set(Role.objects.for_company(acme).values_list("pk", flat=True)) == {
        *[r.pk for r in roles.values()],
        company_admin.pk,
    }


def test_role_key_must_be_upper_case():
    with pytest.raises(IntegrityError, match="role_key_upper"):
        Role.objects.create(key="admin", name="lower")


def test_profile_email_is_stored_lower_case():
    with pytest.raises(IntegrityError, match="profile_email_lower"):
        UserProfile.objects.create(cognito_sub="s1", username="u", email="Alice@Acme.com")


def test_profile_cannot_hold_a_role_without_a_company(roles):
    with pytest.raises(IntegrityError, match="profile_role_needs_company"):
        UserProfile.objects.create(cognito_sub="s1", username="u", email="a@x.com", role=roles["USER"])


def test_profile_preferences_have_sensible_defaults():
    profile = UserProfile.objects.create(cognito_sub="s1", username="u", email="a@x.com")
    assert profile.preferences["theme"] == "light"
    assert profile.preferences["language"] == "en"
    assert profile.preferences["timezone"] == "UTC"
    assert profile.preferences["notifications"]["email"] is True


def test_one_personal_workspace_per_owner_and_company_workspaces_need_a_company(acme):
    owner = UserProfile.objects.create(cognito_sub="s1", username="u", email="a@x.com")
    Workspace.objects.create(name="Mine", kind=WorkspaceKind.PERSONAL, owner=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.create(name="Mine 2", kind=WorkspaceKind.PERSONAL, owner=owner)
    with pytest.raises(IntegrityError, match="workspace_kind_matches_company"):
        Workspace.objects.create(name="Team", kind=WorkspaceKind.COMPANY, owner=owner)
