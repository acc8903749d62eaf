"""Every endpoint is scoped to the caller's company, decided from the database at each request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import World, problem


def _endpoints(world: World, invitation_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Each company-scoped endpoint, aimed at Globex's objects (member and invitation ids)."""
    company = world.globex.pk
    member = world.members["rival"].pk
    base = f"/api/v1/companies/{company}"
    return [
        ("get", f"{base}/members", None),
        ("get", f"{base}/members/{member}", None),
        ("put", f"{base}/members/{member}/role", {"role_id": world.roles["USER"].pk}),
        ("post", f"{base}/members/{member}/suspend", None),
        ("post", f"{base}/members/{member}/reactivate", None),
        ("delete", f"{base}/members/{member}", None),
        ("put", f"{base}/owner", {"member_id": member}),
        ("get", f"{base}/invitations", None),
        ("post", f"{base}/invitations", {"email": "spy@globex.com", "role_id": world.roles["USER"].pk}),
        ("post", f"{base}/invitations/bulk", {"text": "spy@globex.com,USER", "dry_run": False}),
        ("post", f"{base}/invitations/{invitation_id}/resend", None),
        ("post", f"{base}/invitations/{invitation_id}/revoke", None),
        ("post", f"{base}/invitations/{invitation_id}/extend", {"days": 5}),
        ("get", f"{base}/roles", None),
        ("get", f"{base}/flags", None),
        ("get", f"{base}/audit", None),
    ]


def _call(client: Any, method: str, url: str, body: dict[str, Any] | None) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def _snapshot() -> list[Any]:
    from invites.models import Invitation
    from tenants.models import AuditEvent, Company, Membership

    return [
        list(Membership.objects.order_by("pk").values_list("pk", "role_id", "status")),
        list(Invitation.objects.order_by("pk").values_list("pk", "code_hash", "expires_at", "revoked_at")),
        list(Company.objects.order_by("pk").values_list("pk", "owner_id")),
        AuditEvent.objects.count(),
    ]


def test_another_companys_objects_answer_404_on_every_endpoint(world: World, invite: Any) -> None:
    theirs = invite(world.globex, email="someone@globex.com").invitation
    client = world.client("owner")  # '*' in Acme: every permission, none of it in Globex
    before = _snapshot()

    endpoints = _endpoints(world, theirs.pk)
    answers = [(method, url, _call(client, method, url, body)) for method, url, body in endpoints]

    assert [(m, u, r.status_code, problem(r)["type"]) for m, u, r in answers] == [
        (m, u, 404, "urn:gatehouse:problem:not-found") for m, u, _b in endpoints
    ]
    assert _snapshot() == before


def test_another_companys_ids_under_ones_own_company_answer_404(world: World, invite: Any) -> None:
    theirs = invite(world.globex, email="someone@globex.com").invitation
    base = f"/api/v1/companies/{world.acme.pk}"
    client = world.client("owner")
    before = _snapshot()

    statuses = [
        client.get(f"{base}/members/{world.members['rival'].pk}").status_code,
        client.post(f"{base}/members/{world.members['rival'].pk}/suspend").status_code,
        client.post(f"{base}/invitations/{theirs.pk}/revoke").status_code,
        client.put(
            f"{base}/owner",
            data=json.dumps({"member_id": world.members["rival"].pk}),
            content_type="application/json",
        ).status_code,
    ]

    assert statuses == [404, 404, 404, 404]
    assert _snapshot() == before


def test_an_app_client_of_one_company_reaches_no_other(world: World, app_client: Any) -> None:
    from tenants.memberships import membership_add

    membership_add(profile=world.people["owner"], company=world.globex, role=world.roles["SUPER_ADMIN"])
    app_client.company = world.acme
    app_client.save()
    client = world.client("owner")

    assert client.get(f"/api/v1/companies/{world.acme.pk}/roles").status_code == 200
    assert client.get(f"/api/v1/companies/{world.globex.pk}/roles").status_code == 404


@pytest.mark.parametrize("what", ["person", "membership", "company"])
def test_a_suspension_refuses_a_still_valid_token_at_once(world: World, what: str) -> None:
    from tenants.memberships import membership_suspend
    from tenants.models import Company, UserProfile

    client = world.client("manager")
    url = f"/api/v1/companies/{world.acme.pk}/members"
    assert client.get(url).status_code == 200

    if what == "person":
        UserProfile.objects.filter(pk=world.people["manager"].pk).update(status="suspended")
    elif what == "membership":
        membership_suspend(membership=world.members["manager"])
    else:
        Company.objects.filter(pk=world.acme.pk).update(status="suspended")
    response = client.get(url)

    assert (response.status_code, problem(response)["type"]) == (
        403,
        f"urn:gatehouse:problem:{what}-suspended",
    )


def test_a_suspended_person_is_refused_me_too(world: World) -> None:
    from tenants.models import UserProfile

    client = world.client("plain")
    UserProfile.objects.filter(pk=world.people["plain"].pk).update(status="suspended")

    response = client.get("/api/v1/me")

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:person-suspended",
    )
