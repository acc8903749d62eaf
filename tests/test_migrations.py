"""Models that changed app keep their tables and rows: migrations run on data made the old way.

Each test rolls the apps back to the release before the layers change (outbox 0001, triggers
0001, no accounts app), writes rows with the historical models as that release wrote them,
migrates forward and reads them through today's models.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE_LAYERS = [("outbox", "0001_initial"), ("triggers", "0001_initial"), ("accounts", None)]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest():
    executor = MigrationExecutor(connection)
    return _migrate(executor.loader.graph.leaf_nodes())


def test_side_effects_keep_their_person_as_a_subject_reference():
    old = _migrate(BEFORE_LAYERS)
    profile = old.get_model("tenants", "UserProfile").objects.create(
        cognito_sub="sub-old", username="old", email="old@acme.test"
    )
    SideEffect = old.get_model("outbox", "SideEffect")
    SideEffect.objects.create(
        key="email:welcome:old", kind="send_email", payload={"to": "x"}, profile=profile
    )
    SideEffect.objects.create(key="crm:nobody", kind="crm_webhook", payload={}, profile=None)

    _latest()

    from outbox.models import SideEffect as Current

    assert dict(Current.objects.values_list("key", "subject")) == {
        "email:welcome:old": f"profile:{profile.pk}",
        "crm:nobody": "",
    }
    with connection.cursor() as cursor:
        columns = [
            c.name for c in connection.introspection.get_table_description(cursor, "outbox_sideeffect")
        ]
    assert "profile_id" not in columns


def test_login_codes_written_by_the_old_triggers_app_are_read_by_accounts():
    old = _migrate(BEFORE_LAYERS)
    expires = timezone.now() + timedelta(minutes=5)
    row = old.get_model("triggers", "LoginCode").objects.create(
        username="ada", cognito_sub="s", code_hash="h" * 64, expires_at=expires
    )

    _latest()

    from accounts.models import LoginCode

    assert list(LoginCode.objects.usable().values_list("pk", "username", "code_hash")) == [
        (row.pk, "ada", "h" * 64)
    ]
    assert LoginCode._meta.db_table == "triggers_logincode"


def test_profiles_with_a_company_get_their_membership_active_company_and_seat_count():
    old = _migrate([("tenants", "0003_search_trigram_indexes")])
    Company = old.get_model("tenants", "Company")
    Role = old.get_model("tenants", "Role")
    Profile = old.get_model("tenants", "UserProfile")
    acme = Company.objects.create(name="Acme", slug="acme")
    admin = Role.objects.create(key="ADMIN", name="Admin", permissions=["users:manage"])
    alice = Profile.objects.create(
        cognito_sub="a", username="a", email="a@acme.test", company=acme, role=admin
    )
    bob = Profile.objects.create(cognito_sub="b", username="b", email="b@acme.test", company=acme, role=None)
    loner = Profile.objects.create(cognito_sub="c", username="c", email="c@else.test")

    _latest()

    from tenants.models import Company as CurrentCompany
    from tenants.models import Membership, UserProfile

    assert sorted(
        Membership.objects.values_list("profile_id", "company_id", "role_id", "status", "route")
    ) == [
        (alice.pk, acme.pk, admin.pk, "active", "migrated"),
        (bob.pk, acme.pk, None, "active", "migrated"),
    ]
    assert dict(UserProfile.objects.values_list("pk", "active_company_id")) == {
        alice.pk: acme.pk,
        bob.pk: acme.pk,
        loner.pk: None,
    }
    assert CurrentCompany.objects.get(pk=acme.pk).active_members == 2


def test_the_previous_release_joining_by_the_old_columns_is_seen_by_this_release(acme, roles):
    """The previous release accepted an invitation by writing profile.company and .role (a plain
    UPDATE, no membership code). During the deploy both releases run: the new token must see it."""
    from tenants.models import Membership, UserProfile
    from tenants.selectors import token_claims_for

    profile = UserProfile.objects.create(cognito_sub="old-code", username="old", email="old@acme.com")
    with connection.cursor() as cursor:  # what 0.1's invitation_accept sent, column by column
        cursor.execute(
            "UPDATE tenants_userprofile SET company_id = %s, role_id = %s WHERE id = %s",
            [acme.pk, roles["ADMIN"].pk, profile.pk],
        )

    claims = token_claims_for(sub="old-code")
    assert (claims.company_id, claims.role) == (acme.pk, "ADMIN")
    assert Membership.objects.get(profile=profile).status == "active"
    acme.refresh_from_db()
    assert acme.active_members == 1
