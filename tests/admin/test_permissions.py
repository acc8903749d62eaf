"""Support staff vs administrators, the Content-Security-Policy, and login throttling."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import EmailTemplate, FeatureFlag, Role
from tenants.staff import staff_groups_sync

pytestmark = pytest.mark.django_db

ADMINISTRATOR_ONLY = [
    "admin:tenants_emailtemplate_changelist",
    "admin:tenants_emailtemplate_add",
    "admin:tenants_featureflag_changelist",
    "admin:tenants_featureflagoverride_changelist",
    "admin:tenants_role_changelist",
    "admin:tenants_role_add",
    "admin:invites_signuppolicy_changelist",
    "admin:tenants_appclient_changelist",
    "admin:tenants_company_add",
    "gatehouse_try_trigger",
]

SUPPORT_CAN_OPEN = [
    "gatehouse_dashboard",
    "admin:invites_invitation_changelist",
    "admin:invites_invitation_add",
    "admin:invites_invitation_bulk",
    "admin:invites_signuprefusal_changelist",
    "admin:tenants_userprofile_changelist",
    "admin:tenants_company_changelist",
    "admin:outbox_sideeffect_changelist",
]


@pytest.fixture
def side_effect(db):
    from outbox.models import SideEffect

    return SideEffect.objects.create(key="k", kind="send_email", payload={})


@pytest.mark.parametrize("name", ADMINISTRATOR_ONLY)
def test_support_cannot_open_what_administrators_own(support_client, administrator_client, name):
    url = reverse(name)
    assert support_client.get(url).status_code == 403
    assert administrator_client.get(url).status_code == 200


@pytest.mark.parametrize("name", SUPPORT_CAN_OPEN)
def test_support_can_work_with_invitations_and_profiles(support_client, name):
    assert support_client.get(reverse(name)).status_code == 200


def test_support_cannot_change_a_template_flag_or_role_by_posting(support_client, roles):
    template = EmailTemplate.objects.create(key="welcome", subject="s", html_body="h", text_body="t")
    flag = FeatureFlag.objects.create(key="beta")
    for url in (
        reverse("admin:tenants_emailtemplate_change", args=[template.pk]),
        reverse("admin:tenants_emailtemplate_preview"),
        reverse("admin:tenants_emailtemplate_send_test", args=[template.pk]),
        reverse("admin:tenants_featureflag_change", args=[flag.pk]),
        reverse("admin:tenants_role_change", args=[roles["USER"].pk]),
    ):
        assert support_client.post(url, {"subject": "hacked", "key": "HACKED"}).status_code == 403, url
    template.refresh_from_db()
    assert template.subject == "s"
    assert Role.objects.filter(key="HACKED").count() == 0


def test_support_sees_side_effects_but_cannot_retry_them(support_client, administrator_client, side_effect):
    url = reverse("gatehouse_side_effect_retry", args=[side_effect.pk])
    assert (
        support_client.get(reverse("admin:outbox_sideeffect_change", args=[side_effect.pk])).status_code
        == 200
    )
    assert support_client.post(url).status_code == 403
    assert administrator_client.post(url).status_code == 302


def test_support_sees_a_company_but_cannot_change_it(support_client, acme):
    url = reverse("admin:tenants_company_change", args=[acme.pk])
    page = support_client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert support_client.post(url, {"name": "Renamed"}).status_code == 403


def test_support_invites_with_a_plain_role_select(support_client, acme, roles):
    page = support_client.get(reverse("admin:invites_invitation_add"))
    assert "role" not in page.context["adminform"].model_admin.get_autocomplete_fields(page.wsgi_request)
    response = support_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "new@acme.com", "role": roles["USER"].pk},
    )
    assert response.status_code == 200
    assert response.context["code"]


def test_navigation_shows_only_what_the_staff_member_may_open(support_client, administrator_client):
    support_page = support_client.get(reverse("gatehouse_dashboard")).content.decode()
    admin_page = administrator_client.get(reverse("gatehouse_dashboard")).content.decode()
    assert reverse("gatehouse_try_trigger") not in support_page
    assert reverse("gatehouse_try_trigger") in admin_page


def test_group_sync_is_idempotent(staff_groups):
    from django.contrib.auth.models import Group

    first = staff_groups_sync()
    assert staff_groups_sync() == first
    assert Group.objects.filter(name__in=["Support", "Administrators"]).count() == 2
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert "change_emailtemplate" not in support
    assert {"add_invitation", "change_userprofile", "view_company"} <= support


@pytest.mark.parametrize(
    "name",
    [
        "gatehouse_dashboard",
        "admin:index",
        "admin:tenants_emailtemplate_add",
        "admin:invites_invitation_bulk",
    ],
)
def test_admin_pages_carry_the_content_security_policy(admin_client, name):
    policy = admin_client.get(reverse(name))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_admin_login_is_throttled_after_repeated_failures(django_user_model, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-password-1")
    client = Client()
    url = reverse("admin:login")

    statuses = [
        client.post(url, {"username": "boss", "password": f"wrong-{i}"}).status_code for i in range(3)
    ]
    locked = client.post(url, {"username": "boss", "password": "right-password-1"})

    assert statuses == [200, 200, 429]
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
