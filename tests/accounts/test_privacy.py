"""Export and erasure of a person: everything Gatehouse holds, and then none of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from accounts.onboarding import profile_onboard
from accounts.passwordless import login_code_issue
from accounts.privacy import person_erase, person_export
from accounts.sign_in import profile_record_sign_in
from invites.services import refusal_record
from outbox.models import SideEffect, SideEffectStatus
from tenants.models import Membership, MembershipStatus, PersonErasure, UserProfile
from tenants.services import profile_suspend

pytestmark = pytest.mark.django_db

EMAIL = "zelda.quist@acme.com"
GIVEN, FAMILY = "Zelda", "Quistwaller"


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY')
            ORDER BY table_name, column_name
            """
        )
        return cursor.fetchall()


def _where_found(*needles: str) -> list[str]:
    """Every table.column (of every table, including ones added later) holding any needle."""
    found = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(
                    f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1',  # noqa: S608
                    [f"%{needle}%"],
                )
                if cursor.fetchone():
                    found.append(f"{table}.{column}")
    return sorted(set(found))


@pytest.fixture
def zelda(
    acme, roles, invite, cognito_pool, settings, django_user_model, django_capture_on_commit_callbacks
) -> Any:
    """A person with data in every table that can hold it, written through the services."""
    import boto3
    from botocore.config import Config

    # Setup through the test's own client with time to spare (a loaded machine's moto can
    # outlast Gatehouse's 1 s budget); Gatehouse's own calls keep their budget.
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name="us-east-1",
        config=Config(read_timeout=30),
    )
    created = cognito.admin_create_user(
        UserPoolId=cognito_pool, Username=EMAIL, UserAttributes=[{"Name": "email", "Value": EMAIL}]
    )
    sub = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
    issued = invite(acme, email=EMAIL, role="ADMIN")
    with django_capture_on_commit_callbacks(execute=False):
        profile = profile_onboard(
            sub=sub,
            username=EMAIL,
            email=EMAIL,
            user_pool_id=cognito_pool,
            given_name=GIVEN,
            family_name=FAMILY,
            invitation_code=issued.code,
            campaign=f"{GIVEN}-campaign",
        )
        profile_record_sign_in(sub=sub, user_agent=f"{GIVEN}'s Firefox", client_id="app")
        login_code_issue(username=EMAIL, sub=sub, email=EMAIL)
        refusal_record(trigger_source="PreSignUp_SignUp", reason="domain_not_allowed", email=EMAIL)
        staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
        profile_suspend(profile=profile, actor=staff, reason="checking erasure")
    return profile


def test_export_holds_everything_and_no_secret(zelda, acme):
    data = person_export(profile=zelda)

    assert data["profile"]["email"] == EMAIL
    assert (data["profile"]["given_name"], data["profile"]["family_name"]) == (GIVEN, FAMILY)
    assert [(m["company"], m["role"], m["status"]) for m in data["memberships"]] == [
        ("Acme", "ADMIN", "active")
    ]
    assert [i["status"] for i in data["invitations"]] == ["accepted"]
    assert [r["reason"] for r in data["refused_sign_ups"]] == ["domain_not_allowed"]
    assert data["devices"][0]["description"] == f"{GIVEN}'s Firefox"
    assert {a["kind"] for a in data["activity"]} >= {"sign_up", "sign_in"}
    text = json.dumps(data)  # JSON-ready as it is
    assert "code_hash" not in text
    assert "password" not in text


def test_erasure_leaves_the_email_and_names_in_no_column_of_any_table(
    zelda, acme, cognito_pool, django_capture_on_commit_callbacks
):
    assert _where_found(EMAIL, FAMILY)  # the fixture really spread them around

    with django_capture_on_commit_callbacks(execute=True):
        record = person_erase(profile=zelda, erased_by="staff:root")

    assert _where_found(EMAIL, FAMILY) == []
    assert record.profile_id == zelda.pk
    assert record.erased_by == "staff:root"
    assert EMAIL not in json.dumps(record.tables)
    # The Cognito user is gone, through the outbox.
    from outbox.aws import client

    users = client("cognito-idp").list_users(UserPoolId=cognito_pool)["Users"]
    assert users == []
    assert SideEffect.objects.get(key=f"erase:{zelda.pk}").status == SideEffectStatus.DONE
    # The records that must stay, stay, anonymised.
    profile = UserProfile.objects.get(pk=zelda.pk)
    assert (profile.email, profile.given_name, profile.status) == (
        f"erased-{zelda.pk}@erased.invalid",
        "",
        "suspended",
    )
    membership = Membership.objects.get(profile=profile)
    assert membership.status == MembershipStatus.ENDED
    acme.refresh_from_db()
    assert (acme.active_members, acme.owner_id) == (0, None)
    assert PersonErasure.objects.count() == 1
