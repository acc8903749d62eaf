"""Every admin page renders for a superuser, and changelists do not grow queries with rows."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invites.models import SignupPolicy, SignupRefusal
from invites.services import invitation_create
from outbox.models import SideEffect
from tenants.models import (
    ActivityEvent,
    AppClient,
    CompanyDomain,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    KnownDevice,
    LegacyUser,
    PersonErasure,
    RateLimitCounter,
    UserProfile,
    Workspace,
)

pytestmark = pytest.mark.django_db

OUR_APPS = {"tenants", "invites", "outbox"}


def our_models():
    return [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]


def populate(acme, roles, n):
    """n rows of everything, all related, so N+1 queries would show."""
    from django.utils import timezone

    flag = FeatureFlag.objects.get_or_create(key="reports")[0]
    for i in range(n):
        suffix = f"{n}-{i}"
        profile = UserProfile.objects.create(
            cognito_sub=f"sub-{suffix}",
            username=f"u{suffix}",
            email=f"u{suffix}@acme.com",
            company=acme,
            role=roles["USER"],
        )
        invitation_create(company=acme, email=f"inv{suffix}@acme.com", role=roles["ADMIN"])
        Workspace.objects.create(name=f"w{suffix}", kind="personal", owner=profile)
        ActivityEvent.objects.create(kind="sign_in", profile=profile, company=acme)
        KnownDevice.objects.create(profile=profile, fingerprint=f"f{suffix}")
        CompanyDomain.objects.create(company=acme, domain=f"d{suffix.replace('-', 'x')}.example.com")
        FeatureFlag.objects.create(key=f"flag-{suffix}")
        AppClient.objects.create(client_id=f"c{suffix}", name=f"c{suffix}", company=acme)
        LegacyUser.objects.create(
            email=f"l{suffix}@acme.com", password_hash="md5$x$y", company=acme, role=roles["USER"]
        )
        RateLimitCounter.objects.create(scope="s", key=f"k{suffix}", window_start=timezone.now())
        SideEffect.objects.create(
            key=f"k{suffix}", kind="send_email", payload={}, subject=f"profile:{profile.pk}"
        )
        EmailTemplate.objects.create(
            key="welcome", language=f"l{suffix}"[:10], subject="s", html_body="h", text_body="t"
        )
        SignupRefusal.objects.create(
            trigger_source="PreSignUp_SignUp", reason="domain_not_allowed", email=f"x{suffix}@y.com"
        )
    FeatureFlagOverride.objects.get_or_create(flag=flag, company=acme, defaults={"enabled": True})
    SignupPolicy.objects.get_or_create(pk=1)
    PersonErasure.objects.get_or_create(profile_id=999_999, defaults={"erased_by": "staff:test"})


# Models whose add page refuses even a superuser (has_add_permission), and why; every other
# model's add page must render. A page that starts refusing, or stops, fails the test.
ADD_REFUSED = {
    "tenants.UserProfile": "profiles come from Cognito: sign-up, migration, AdminCreateUser",
    "tenants.ActivityEvent": "recorded by the triggers",
    "tenants.KnownDevice": "recorded by post authentication",
    "tenants.RateLimitCounter": "counted by the triggers",
    "invites.SignupPolicy": "a single row, and populate() made it",
    "invites.SignupRefusal": "recorded by the triggers",
    "outbox.SideEffect": "stored with the change that causes it",
    "tenants.PersonErasure": "written by erasure only",
}


def test_every_changelist_add_and_change_page_renders(admin_client, acme, roles):
    populate(acme, roles, 2)
    assert set(ADD_REFUSED) <= {model._meta.label for model in our_models()}
    for model in our_models():
        opts = model._meta
        changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.label
        add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == (403 if opts.label in ADD_REFUSED else 200), opts.label
        obj = model.objects.first()
        assert obj is not None, opts.label
        change = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200, opts.label


def test_the_sign_up_policy_can_be_added_only_while_there_is_none(admin_client):
    url = reverse("admin:invites_signuppolicy_add")
    assert admin_client.get(url).status_code == 200
    SignupPolicy.objects.get_or_create(pk=1)
    assert admin_client.get(url).status_code == 403


def test_search_works_on_every_changelist(admin_client, acme, roles):
    populate(acme, roles, 1)
    for model in our_models():
        opts = model._meta
        response = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "acme"}
        )
        assert response.status_code == 200, opts.label


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_changelist_query_counts_stay_flat_as_rows_grow(admin_client, acme, roles):
    populate(acme, roles, 2)
    urls = [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in our_models()]
    small = {url: count_queries(admin_client, url) for url in urls}
    populate(acme, roles, 12)
    large = {url: count_queries(admin_client, url) for url in urls}
    assert large == small


def our_pages(profile_pk):
    return [
        reverse("gatehouse_dashboard"),
        reverse("gatehouse_try_trigger"),
        reverse("admin:invites_invitation_bulk"),
        reverse("admin:invites_invitation_cognito"),
        reverse("admin:tenants_emailtemplate_preview"),
        reverse("admin:tenants_userprofile_suspend", args=[profile_pk]),
        reverse("admin:tenants_userprofile_reactivate", args=[profile_pk]),
        reverse("admin:tenants_userprofile_role", args=[profile_pk]),
    ]


def test_our_own_pages_render(admin_client, acme, roles):
    populate(acme, roles, 2)
    for url in our_pages(UserProfile.objects.first().pk):
        assert admin_client.get(url).status_code == 200, url


def test_company_page_and_dashboard_queries_stay_flat_as_members_grow(admin_client, acme, roles):
    populate(acme, roles, 2)
    urls = [reverse("admin:tenants_company_change", args=[acme.pk]), reverse("gatehouse_dashboard")]
    for url in urls:
        # A first request fills per-process caches (content types, the session's second factor):
        # what this test measures is growth with members, so measure warm pages only.
        count_queries(admin_client, url)
    small = {url: count_queries(admin_client, url) for url in urls}
    populate(acme, roles, 12)
    large = {url: count_queries(admin_client, url) for url in urls}
    assert large == small


def test_company_page_shows_seats_and_links_instead_of_every_member(admin_client, acme, roles):
    populate(acme, roles, 12)
    response = admin_client.get(reverse("admin:tenants_company_change", args=[acme.pk]))
    overview = response.context["overview"]
    assert (overview.members, overview.seat_limit, overview.seats_free) == (12, 10, 0)
    assert len(overview.recent_members) == 10
    assert overview.pending_invitations == 12
    assert overview.links["members"] == f"/admin/tenants/membership/?company__id__exact={acme.pk}"
    members_page = admin_client.get(overview.links["members"])
    assert members_page.context["cl"].result_count == 12
