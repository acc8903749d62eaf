"""Suspend, reactivate and change role: Gatehouse, Cognito (moto) and the admin history agree."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from outbox.aws import client
from outbox.models import SideEffect, SideEffectStatus
from tenants.models import ActivityEvent, Role, Status, UserProfile
from tenants.services import StaffActionError, profile_change_role, profile_reactivate, profile_suspend

pytestmark = pytest.mark.django_db


@pytest.fixture
def cognito_member(cognito_pool, member):
    cognito = client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=cognito_pool,
        Username=member.username,
        UserAttributes=[{"Name": "email", "Value": member.email}],
        MessageAction="SUPPRESS",
    )
    for group in ("USER", "ADMIN"):
        cognito.create_group(UserPoolId=cognito_pool, GroupName=group)
    cognito.admin_add_user_to_group(UserPoolId=cognito_pool, Username=member.username, GroupName="USER")
    return member


def cognito_user(pool: str, username: str) -> dict:
    return client("cognito-idp").admin_get_user(UserPoolId=pool, Username=username)


def cognito_groups(pool: str, username: str) -> list[str]:
    groups = client("cognito-idp").admin_list_groups_for_user(UserPoolId=pool, Username=username)["Groups"]
    return sorted(g["GroupName"] for g in groups)


def test_suspend_disables_the_cognito_user_and_records_history(
    cognito_pool, cognito_member, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert profile_suspend(profile=cognito_member, actor=admin_user, reason="left the company") is True

    cognito_member.refresh_from_db()
    assert cognito_member.status == Status.SUSPENDED
    assert cognito_user(cognito_pool, "member-user")["Enabled"] is False
    effect = SideEffect.objects.get(subject=f"profile:{cognito_member.pk}")
    assert (effect.kind, effect.status) == ("cognito_disable_user", SideEffectStatus.DONE)
    entry = LogEntry.objects.get(object_id=str(cognito_member.pk))
    assert entry.user == admin_user
    assert (
        entry.change_message
        == "Suspended (disabled in Cognito, signed out everywhere). Reason: left the company"
    )
    assert ActivityEvent.objects.get(profile=cognito_member).data == {
        "action": "suspend",
        "staff_user_id": admin_user.pk,
    }


def test_suspending_twice_writes_nothing_the_second_time(cognito_pool, cognito_member, admin_user):
    assert profile_suspend(profile=cognito_member, actor=admin_user) is True
    assert profile_suspend(profile=cognito_member, actor=admin_user) is False
    assert SideEffect.objects.count() == 1
    assert LogEntry.objects.count() == 1


def test_reactivate_enables_the_cognito_user_again(
    cognito_pool, cognito_member, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        profile_suspend(profile=cognito_member, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert profile_reactivate(profile=cognito_member, actor=admin_user) is True

    cognito_member.refresh_from_db()
    assert cognito_member.status == Status.ACTIVE
    assert cognito_user(cognito_pool, "member-user")["Enabled"] is True
    assert list(LogEntry.objects.order_by("pk").values_list("change_message", flat=True)) == [
        "Suspended (disabled in Cognito, signed out everywhere).",
        "Reactivated (enabled in Cognito).",
    ]


def test_change_role_moves_the_cognito_group(
    cognito_pool, cognito_member, roles, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert profile_change_role(profile=cognito_member, role=roles["ADMIN"], actor=admin_user) is True

    cognito_member.refresh_from_db()
    assert cognito_member.role == roles["ADMIN"]
    assert cognito_groups(cognito_pool, "member-user") == ["ADMIN"]
    assert LogEntry.objects.get().change_message == "Role changed from USER to ADMIN."


def test_role_of_another_company_is_refused_and_nothing_written(cognito_pool, member, admin_user):
    from tenants.models import Company

    other = Company.objects.create(name="Other", slug="other")
    foreign = Role.objects.create(key="AUDITOR", name="Auditor", company=other)

    with pytest.raises(StaffActionError, match="belongs to another company"):
        profile_change_role(profile=member, role=foreign, actor=admin_user)

    member.refresh_from_db()
    assert member.role.key == "USER"
    assert SideEffect.objects.count() == 0
    assert LogEntry.objects.count() == 0


def test_without_a_user_pool_the_change_is_made_in_gatehouse_only(member, admin_user, settings):
    settings.COGNITO_USER_POOL_ID = ""
    assert profile_suspend(profile=member, actor=admin_user) is True
    assert UserProfile.objects.get(pk=member.pk).status == Status.SUSPENDED
    assert SideEffect.objects.count() == 0


def test_suspend_through_the_admin_page(
    cognito_pool, cognito_member, support_client, django_capture_on_commit_callbacks
):
    url = reverse("admin:tenants_userprofile_suspend", args=[cognito_member.pk])
    assert support_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(url, {"reason": "asked by their manager"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tenants_userprofile_change", args=[cognito_member.pk])
    assert cognito_user(cognito_pool, "member-user")["Enabled"] is False
    assert LogEntry.objects.get().user == support_client.user
    history = support_client.get(reverse("admin:tenants_userprofile_history", args=[cognito_member.pk]))
    assert "asked by their manager" in history.content.decode()


def test_change_role_page_offers_only_roles_of_the_users_company(member, roles, administrator_client):
    # Support may not grant ADMIN (tests/admin/test_role_grants.py): an Administrator does.
    from tenants.models import Company

    Role.objects.create(key="AUDITOR", name="Auditor", company=Company.objects.create(name="O", slug="o"))
    url = reverse("admin:tenants_userprofile_role", args=[member.pk])

    response = administrator_client.get(url)
    assert sorted(r.key for r in response.context["form"].fields["role"].queryset) == [
        "ADMIN",
        "SUPER_ADMIN",
        "USER",
    ]
    response = administrator_client.post(url, {"role": roles["ADMIN"].pk})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == roles["ADMIN"]


def test_bulk_suspend_action(member, acme, roles, admin_client):
    other = UserProfile.objects.create(cognito_sub="s2", username="u2", email="u2@acme.com", company=acme)
    response = admin_client.post(
        reverse("admin:tenants_userprofile_changelist"),
        {"action": "suspend_selected", "_selected_action": [member.pk, other.pk]},
    )
    assert response.status_code == 302
    assert set(UserProfile.objects.values_list("status", flat=True)) == {Status.SUSPENDED}
    assert LogEntry.objects.count() == 2
