"""The caller themselves: profile, memberships, preferences, active company, export."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import World, problem


def test_me_lists_profile_role_permissions_flags_memberships_and_pending_invitations(
    world: World, invite: Any
) -> None:
    from tenants.memberships import membership_add
    from tenants.models import Company, FeatureFlag

    FeatureFlag.objects.create(key="reports", enabled_tiers=["pro"])
    FeatureFlag.objects.create(key="beta", default_enabled=False)
    membership_add(profile=world.people["manager"], company=world.globex, role=world.roles["USER"])
    initech = Company.objects.create(name="Initech", slug="initech")
    invite(initech, email="manager@acme.com", role="ADMIN")

    body = world.client("manager").get("/api/v1/me").json()

    acme = {"id": world.acme.pk, "name": "Acme", "slug": "acme"}
    globex = {"id": world.globex.pk, "name": "Globex", "slug": "globex"}
    assert body["profile"]["email"] == "manager@acme.com"
    assert body["active_company"] == acme
    assert body["role"] == "MANAGER"
    assert body["permissions"] == ["profile:read", "roles:read", "users:invite", "users:manage"]
    assert body["flags"] == {"beta": False, "reports": True}
    assert body["memberships"] == [
        {"company": globex, "role": "USER", "status": "active"},
        {"company": acme, "role": "MANAGER", "status": "active"},
    ]
    assert [(i["company"], i["role"]) for i in body["pending_invitations"]] == [
        ({"id": initech.pk, "name": "Initech", "slug": "initech"}, "ADMIN")
    ]


def test_preferences_are_merged_and_stored(world: World) -> None:
    response = world.client("plain").patch(
        "/api/v1/me/preferences",
        data=json.dumps({"theme": "dark", "notifications": {"product_updates": True}}),
        content_type="application/json",
    )

    expected = {
        "theme": "dark",
        "language": "en",
        "timezone": "UTC",
        "notifications": {"email": True, "product_updates": True},
    }
    assert response.status_code == 200
    assert response.json() == {"preferences": expected}
    world.people["plain"].refresh_from_db()
    assert world.people["plain"].preferences == expected


def test_bad_preferences_are_a_problem_with_field_errors_and_nothing_is_written(world: World) -> None:
    response = world.client("plain").patch(
        "/api/v1/me/preferences",
        data=json.dumps({"theme": "neon", "language": "english"}),
        content_type="application/json",
    )

    body = problem(response)
    assert response.status_code == 422
    assert body["type"] == "urn:gatehouse:problem:invalid-request"
    assert sorted(error["field"] for error in body["errors"]) == ["language", "theme"]
    world.people["plain"].refresh_from_db()
    assert world.people["plain"].preferences["theme"] == "light"


def test_switching_the_active_company_needs_an_active_membership_there(world: World) -> None:
    from tenants.memberships import membership_add
    from tenants.models import AuditEvent

    membership_add(profile=world.people["plain"], company=world.globex, role=world.roles["USER"])
    client = world.client("plain")

    response = client.put(
        "/api/v1/me/active-company",
        data=json.dumps({"company_id": world.globex.pk}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["active_company"]["id"] == world.globex.pk
    world.people["plain"].refresh_from_db()
    assert world.people["plain"].active_company_id == world.globex.pk
    event = AuditEvent.objects.get(action="profile.switch_company")
    assert (event.before, event.after) == (
        {"active_company_id": world.acme.pk},
        {"active_company_id": world.globex.pk},
    )


def test_switching_to_a_company_one_is_not_a_member_of_is_404(world: World) -> None:
    response = world.client("plain").put(
        "/api/v1/me/active-company",
        data=json.dumps({"company_id": world.globex.pk}),
        content_type="application/json",
    )

    assert (response.status_code, problem(response)["type"]) == (404, "urn:gatehouse:problem:not-found")
    world.people["plain"].refresh_from_db()
    assert world.people["plain"].active_company_id == world.acme.pk


def test_export_returns_what_gatehouse_holds_on_the_caller(world: World) -> None:
    body = world.client("plain").get("/api/v1/me/export").json()

    assert body["profile"]["email"] == "plain@acme.com"
    assert body["profile"]["cognito_sub"] == "sub-plain@acme.com"
    assert "code_hash" not in json.dumps(body)


def test_a_token_whose_user_gatehouse_does_not_know_is_403(world: World) -> None:
    from django.test import Client

    token = world.mint("nobody-we-know")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me")

    assert (response.status_code, problem(response)["type"]) == (403, "urn:gatehouse:problem:forbidden")
