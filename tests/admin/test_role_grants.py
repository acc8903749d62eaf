"""Nobody grants a role with a permission they do not hold: Support may not hand out '*' or access control."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.urls import reverse

from invites.bulk import invitation_bulk_create
from invites.models import Invitation
from invites.services import invitation_create
from outbox.aws import client
from outbox.models import SideEffect
from tenants.grants import role_grantable_by
from tenants.models import ActivityEvent, Role, UserProfile
from tenants.services import StaffActionError, profile_change_role

pytestmark = pytest.mark.django_db


def test_who_holds_which_role(roles, support_client, administrator_client, admin_user, django_user_model):
    wildcard = Role.objects.create(key="INVOICES", name="Invoices", permissions=["invoices:*"])
    plain = Role.objects.create(key="BILLING", name="Billing", permissions=["billing:read", "billing:write"])
    support, administrator = support_client.user, administrator_client.user
    former = django_user_model.objects.create_user("gone", is_staff=True, is_active=False, is_superuser=True)
    outsider = django_user_model.objects.create_user("outsider", is_staff=False)

    table = {
        actor_name: {
            role.key: role_grantable_by(role=role, actor=actor)
            for role in (roles["USER"], plain, roles["ADMIN"], wildcard, roles["SUPER_ADMIN"])
        }
        for actor_name, actor in [
            ("superuser", admin_user),
            ("administrator", administrator),
            ("support", support),
            ("inactive superuser", former),
            ("not staff", outsider),
            ("anonymous", AnonymousUser()),
            ("nobody", None),
        ]
    }

    everything = {"USER": True, "BILLING": True, "ADMIN": True, "INVOICES": True, "SUPER_ADMIN": True}
    nothing = dict.fromkeys(everything, False)
    assert table == {
        "superuser": everything,
        "administrator": everything,
        # ADMIN carries users:invite (access control), INVOICES a wildcard, SUPER_ADMIN '*'.
        "support": {"USER": True, "BILLING": True, "ADMIN": False, "INVOICES": False, "SUPER_ADMIN": False},
        "inactive superuser": nothing,
        "not staff": nothing,
        "anonymous": nothing,
        "nobody": nothing,
    }


def test_admin_level_resources_are_a_setting(roles, support_client, settings):
    settings.ROLE_ADMIN_LEVEL_RESOURCES = ["billing"]
    billing = Role.objects.create(key="BILLING", name="Billing", permissions=["billing:read"])

    assert role_grantable_by(role=billing, actor=support_client.user) is False
    assert role_grantable_by(role=roles["ADMIN"], actor=support_client.user) is True
    assert role_grantable_by(role=roles["SUPER_ADMIN"], actor=support_client.user) is False


# --- Invite one -------------------------------------------------------------------------


def test_support_cannot_invite_with_a_role_holding_a_star(support_client, acme, roles):
    response = support_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "sam.alt@example.com", "role": roles["SUPER_ADMIN"].pk},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "role": ["Only Administrators may grant the role SUPER_ADMIN: it carries *."]
    }
    assert Invitation.objects.count() == 0


def test_support_cannot_invite_a_company_administrator(support_client, acme, roles):
    response = support_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "sam.alt@example.com", "role": roles["ADMIN"].pk},
    )

    assert response.context["adminform"].form.errors == {
        "role": ["Only Administrators may grant the role ADMIN: it carries users:invite."]
    }
    assert Invitation.objects.count() == 0


def test_support_invites_with_a_role_they_hold(support_client, acme, roles):
    response = support_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "new@acme.com", "role": roles["USER"].pk},
    )

    assert response.status_code == 200
    assert response.templates[0].name == "admin/invites/invitation/code_once.html"
    assert Invitation.objects.get().role == roles["USER"]


def test_administrators_invite_with_any_role(administrator_client, acme, roles):
    response = administrator_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "boss@acme.com", "role": roles["SUPER_ADMIN"].pk},
    )

    assert response.templates[0].name == "admin/invites/invitation/code_once.html"
    assert Invitation.objects.get().role == roles["SUPER_ADMIN"]


def test_the_service_refuses_too_whatever_calls_it(support_client, acme, roles):
    with pytest.raises(ValidationError) as refused:
        invitation_create(
            company=acme,
            email="sam.alt@example.com",
            role=roles["SUPER_ADMIN"],
            created_by=support_client.user,
        )

    assert refused.value.message_dict == {
        "role": ["Only Administrators may grant the role SUPER_ADMIN: it carries *."]
    }
    with pytest.raises(ValidationError):
        invitation_create(
            company=acme, email="sam.alt@example.com", role=roles["USER"], created_by=AnonymousUser()
        )
    assert Invitation.objects.count() == 0


# --- Invite many ------------------------------------------------------------------------

PASTE = "ok@acme.com,USER\nboss@acme.com,SUPER_ADMIN\nlead@acme.com,ADMIN\n"


def _bulk(client, acme, **fields):
    return client.post(
        reverse("admin:invites_invitation_bulk"),
        {"company": acme.pk, "rows": PASTE, "on_bad_rows": "none", **fields},
    )


def test_support_dry_run_marks_the_rows_they_may_not_grant(support_client, acme, roles):
    response = _bulk(support_client, acme)

    assert response.status_code == 200
    assert [(row.line, row.error) for row in response.context["rows"]] == [
        (1, ""),
        (2, "Only Administrators may grant the role SUPER_ADMIN: it carries *."),
        (3, "Only Administrators may grant the role ADMIN: it carries users:invite."),
    ]
    assert Invitation.objects.count() == 0


def test_support_bulk_create_all_or_none_writes_nothing(support_client, acme, roles):
    response = _bulk(support_client, acme, _create="1")

    assert response.status_code == 200
    assert [row.ok for row in response.context["rows"]] == [True, False, False]
    assert Invitation.objects.count() == 0


def test_support_bulk_create_good_rows_creates_only_what_they_may_grant(support_client, acme, roles):
    response = _bulk(support_client, acme, _create="1", on_bad_rows="good")

    assert response.status_code == 200
    assert list(Invitation.objects.values_list("email", "role__key")) == [("ok@acme.com", "USER")]


def test_support_bulk_default_role_they_may_not_grant_is_a_form_error(support_client, acme, roles):
    response = _bulk(support_client, acme, rows="x@acme.com", default_role=roles["SUPER_ADMIN"].pk)

    assert response.context["form"].errors == {
        "default_role": ["Only Administrators may grant the role SUPER_ADMIN: it carries *."]
    }
    assert Invitation.objects.count() == 0


def test_the_bulk_service_checks_the_rows_again(support_client, acme, roles):
    result = invitation_bulk_create(company=acme, text=PASTE, created_by=support_client.user)

    assert (result.written, [row.ok for row in result.rows]) == (False, [True, False, False])
    assert Invitation.objects.count() == 0


def test_administrators_bulk_invite_with_any_role(administrator_client, acme, roles):
    _bulk(administrator_client, acme, _create="1")

    assert sorted(Invitation.objects.values_list("role__key", flat=True)) == ["ADMIN", "SUPER_ADMIN", "USER"]


# --- Change role ------------------------------------------------------------------------


def _nothing_written(member, role_key):
    member.refresh_from_db()
    assert member.role.key == role_key
    assert LogEntry.objects.count() == 0
    assert ActivityEvent.objects.count() == 0
    assert SideEffect.objects.count() == 0


def test_support_cannot_make_a_member_super_admin(support_client, member, roles, cognito_pool):
    response = support_client.post(
        reverse("admin:tenants_userprofile_role", args=[member.pk]), {"role": roles["SUPER_ADMIN"].pk}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "role": ["Only Administrators may grant the role SUPER_ADMIN: it carries *."]
    }
    _nothing_written(member, "USER")


def test_support_cannot_take_away_a_role_they_could_not_grant(support_client, member, roles):
    UserProfile.objects.filter(pk=member.pk).update(role=roles["SUPER_ADMIN"])

    response = support_client.post(
        reverse("admin:tenants_userprofile_role", args=[member.pk]), {"role": roles["USER"].pk}
    )

    assert response.context["form"].errors == {
        "role": ["Only Administrators may change the role of a SUPER_ADMIN: it carries *."]
    }
    _nothing_written(member, "SUPER_ADMIN")


def test_the_role_service_refuses_support_too(support_client, member, roles):
    with pytest.raises(StaffActionError, match="Only Administrators may grant the role ADMIN"):
        profile_change_role(profile=member, role=roles["ADMIN"], actor=support_client.user)

    _nothing_written(member, "USER")


def test_administrators_change_any_role(administrator_client, member, roles):
    response = administrator_client.post(
        reverse("admin:tenants_userprofile_role", args=[member.pk]), {"role": roles["SUPER_ADMIN"].pk}
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == roles["SUPER_ADMIN"]


# --- Invite by creating the Cognito user ------------------------------------------------


def test_support_cannot_create_a_cognito_user_with_a_star_role(support_client, acme, roles, cognito_pool):
    response = support_client.post(
        reverse("admin:invites_invitation_cognito"),
        {"company": acme.pk, "email": "sam.alt@example.com", "role": roles["SUPER_ADMIN"].pk},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "role": ["Only Administrators may grant the role SUPER_ADMIN: it carries *."]
    }
    assert Invitation.objects.count() == 0
    assert client("cognito-idp").list_users(UserPoolId=cognito_pool)["Users"] == []


def test_the_cognito_service_refuses_before_calling_cognito(support_client, acme, roles, cognito_pool):
    from invites.cognito_users import invitation_create_cognito_user

    with pytest.raises(ValidationError, match="Only Administrators may grant the role SUPER_ADMIN"):
        invitation_create_cognito_user(
            company=acme,
            email="sam.alt@example.com",
            role=roles["SUPER_ADMIN"],
            created_by=support_client.user,
        )

    assert Invitation.objects.count() == 0
    assert client("cognito-idp").list_users(UserPoolId=cognito_pool)["Users"] == []
