"""Members: list, show, change role, suspend, reactivate, remove, transfer ownership."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import World, make_person, problem


def _url(world: World, tail: str = "") -> str:
    return f"/api/v1/companies/{world.acme.pk}/members{tail}"


def _put(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.put(url, data=json.dumps(body), content_type="application/json")


def test_the_list_is_paginated_newest_first(world: World) -> None:
    body = world.client("manager").get(_url(world), {"limit": 2, "offset": 1}).json()

    assert body["count"] == 4
    assert [item["email"] for item in body["items"]] == ["inviter@acme.com", "manager@acme.com"]


def test_the_list_searches_and_filters_by_role_and_status(world: World) -> None:
    from tenants.memberships import membership_suspend

    membership_suspend(membership=world.members["plain"])
    client = world.client("manager")

    by_search = client.get(_url(world), {"search": "INVIT"}).json()
    by_role = client.get(_url(world), {"role": "SUPER_ADMIN"}).json()
    by_status = client.get(_url(world), {"status": "suspended"}).json()

    assert [i["email"] for i in by_search["items"]] == ["inviter@acme.com"]
    assert [(i["email"], i["is_owner"]) for i in by_role["items"]] == [("owner@acme.com", True)]
    assert [(i["email"], i["status"]) for i in by_status["items"]] == [("plain@acme.com", "suspended")]


def test_show_one_member(world: World) -> None:
    member = world.members["plain"]

    body = world.client("manager").get(_url(world, f"/{member.pk}")).json()

    assert body == {
        "id": member.pk,
        "profile_id": world.people["plain"].pk,
        "email": "plain@acme.com",
        "given_name": "Plain",
        "family_name": "",
        "role": "USER",
        "status": "active",
        "route": "staff",
        "is_owner": False,
        "created_at": body["created_at"],
    }


def test_list_queries_are_flat_in_the_number_of_members(world: World) -> None:
    from tenants.memberships import membership_add

    client = world.client("manager")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_url(world)).status_code == 200
        return len(captured)

    few = queries()
    for n in range(10):
        membership_add(
            profile=make_person(f"extra{n}@acme.com"), company=world.acme, role=world.roles["USER"]
        )
    many = queries()

    assert client.get(_url(world)).json()["count"] == 14
    # The app client, the caller's membership (person, company, role), the count, the page.
    assert few == many == 4


def test_change_role_records_the_before_and_after(world: World) -> None:
    from tenants.models import AuditEvent, Membership

    member = world.members["plain"]

    response = _put(
        world.client("manager"), _url(world, f"/{member.pk}/role"), {"role_id": world.roles["ADMIN"].pk}
    )

    assert response.status_code == 200
    assert response.json()["role"] == "ADMIN"
    assert Membership.objects.get(pk=member.pk).role_id == world.roles["ADMIN"].pk
    event = AuditEvent.objects.get()
    assert (event.action, event.object_id, event.before, event.after) == (
        "membership.change_role",
        str(member.pk),
        {"role": "USER"},
        {"role": "ADMIN"},
    )
    assert (event.actor_kind, event.actor_id, event.via_client_id) == (
        "member",
        f"profile:{world.people['manager'].pk}",
        "app-client-web",
    )


def test_no_one_grants_a_role_carrying_more_than_they_hold(world: World) -> None:
    from tenants.models import AuditEvent, Membership

    member = world.members["plain"]

    response = _put(
        world.client("manager"), _url(world, f"/{member.pk}/role"), {"role_id": world.roles["SUPER_ADMIN"].pk}
    )

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:role-not-grantable",
    )
    assert Membership.objects.get(pk=member.pk).role_id == world.roles["USER"].pk
    assert AuditEvent.objects.count() == 0


def test_nor_acts_on_a_member_whose_role_carries_more(world: World) -> None:
    from tenants.models import Membership

    owner = world.members["owner"]

    response = world.client("manager").post(_url(world, f"/{owner.pk}/suspend"))

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:role-not-grantable",
    )
    assert Membership.objects.get(pk=owner.pk).status == "active"


def test_a_role_of_another_company_is_a_field_error(world: World) -> None:
    from tenants.models import Role

    theirs = Role.objects.create(key="GLOBEX_ONLY", name="G", company=world.globex, permissions=[])

    response = _put(
        world.client("manager"), _url(world, f"/{world.members['plain'].pk}/role"), {"role_id": theirs.pk}
    )

    assert response.status_code == 422
    assert problem(response)["errors"] == [{"field": "role_id", "message": "No such role here."}]


def test_suspend_reactivate_and_remove(world: World) -> None:
    from tenants.models import AuditEvent, Membership

    member = world.members["plain"]
    client = world.client("manager")

    suspended = client.post(_url(world, f"/{member.pk}/suspend")).json()
    again = client.post(_url(world, f"/{member.pk}/suspend")).json()
    reactivated = client.post(_url(world, f"/{member.pk}/reactivate")).json()
    removed = client.delete(_url(world, f"/{member.pk}")).json()

    assert [suspended, again, reactivated, removed] == [
        {"changed": True},
        {"changed": False},
        {"changed": True},
        {"changed": True},
    ]
    assert Membership.objects.get(pk=member.pk).status == "ended"
    assert list(AuditEvent.objects.order_by("id").values_list("action", "before", "after")) == [
        ("membership.suspend", {"status": "active"}, {"status": "suspended"}),
        ("membership.reactivate", {"status": "suspended"}, {"status": "active"}),
        ("membership.remove", {"status": "active"}, {"status": "ended"}),
    ]
    assert client.get(_url(world, f"/{member.pk}")).status_code == 404


def test_the_service_rules_come_back_as_conflicts(world: World) -> None:
    """The owner cannot be suspended (tenants.memberships), whoever asks."""
    response = world.client("owner").post(_url(world, f"/{world.members['owner'].pk}/suspend"))

    body = problem(response)
    assert (response.status_code, body["type"], body["reason"]) == (
        409,
        "urn:gatehouse:problem:conflict",
        "owner",
    )


def test_transfer_ownership_to_another_administrator(world: World) -> None:
    from tenants.memberships import membership_change_role

    membership_change_role(membership=world.members["inviter"], role=world.roles["SUPER_ADMIN"])

    response = _put(
        world.client("owner"),
        f"/api/v1/companies/{world.acme.pk}/owner",
        {"member_id": world.members["inviter"].pk},
    )

    assert response.json() == {"changed": True}
    world.acme.refresh_from_db()
    assert world.acme.owner_id == world.people["inviter"].pk


def test_transfer_ownership_needs_company_manage(world: World) -> None:
    response = _put(
        world.client("manager"),
        f"/api/v1/companies/{world.acme.pk}/owner",
        {"member_id": world.members["manager"].pk},
    )

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:permission-missing",
    )
    world.acme.refresh_from_db()
    assert world.acme.owner_id == world.people["owner"].pk
