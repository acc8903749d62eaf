"""Roles, flags and the audit trail of a company; the audit trail in the admin."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World, problem


def test_roles_lists_the_global_ones_and_the_companys_own(world: World) -> None:
    from tenants.models import Role

    Role.objects.create(key="GLOBEX_ONLY", name="G", company=world.globex, permissions=[])

    body = world.client("manager").get(f"/api/v1/companies/{world.acme.pk}/roles").json()

    assert [(r["key"], r["company_id"]) for r in body] == [
        ("ADMIN", None),
        ("MANAGER", world.acme.pk),
        ("SUPER_ADMIN", None),
        ("USER", None),
    ]


def test_roles_need_roles_read(world: World) -> None:
    response = world.client("plain").get(f"/api/v1/companies/{world.acme.pk}/roles")

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:permission-missing",
    )


def test_flags_say_their_value_and_why_to_any_member(world: World) -> None:
    from tenants.models import FeatureFlag, FeatureFlagOverride

    FeatureFlag.objects.create(key="reports", enabled_tiers=["pro"], description="Reports")
    beta = FeatureFlag.objects.create(key="beta")
    FeatureFlagOverride.objects.create(flag=beta, company=world.acme, enabled=True)

    body = world.client("plain").get(f"/api/v1/companies/{world.acme.pk}/flags").json()

    assert body == [
        {"key": "beta", "enabled": True, "reason": "override", "description": ""},
        {"key": "reports", "enabled": True, "reason": "tier", "description": "Reports"},
    ]


def test_the_audit_trail_lists_the_companys_events_newest_first(world: World) -> None:
    client = world.client("owner")
    for action in ("suspend", "reactivate"):
        client.post(f"/api/v1/companies/{world.acme.pk}/members/{world.members['plain'].pk}/{action}")
    world.client("rival").post(f"/api/v1/companies/{world.globex.pk}/invitations/0/revoke")

    body = client.get(f"/api/v1/companies/{world.acme.pk}/audit").json()

    assert body["count"] == 2
    assert [(e["action"], e["after"]) for e in body["items"]] == [
        ("membership.reactivate", {"status": "active"}),
        ("membership.suspend", {"status": "suspended"}),
    ]
    assert {e["request_id"] != "" for e in body["items"]} == {True}


def test_the_audit_trail_keeps_the_request_id_the_caller_sent(world: World) -> None:
    from tenants.models import AuditEvent

    world.client("owner").post(
        f"/api/v1/companies/{world.acme.pk}/members/{world.members['plain'].pk}/suspend",
        HTTP_X_REQUEST_ID="req-123",
    )

    assert AuditEvent.objects.get().request_id == "req-123"


def test_the_audit_trail_needs_company_manage(world: World) -> None:
    response = world.client("manager").get(f"/api/v1/companies/{world.acme.pk}/audit")

    assert (response.status_code, problem(response)["type"]) == (
        403,
        "urn:gatehouse:problem:permission-missing",
    )


def test_staff_browse_the_audit_trail_read_only(world: World, admin_client: Any) -> None:
    from tenants.audit import AuditActor, audit_record
    from tenants.models import AuditActorKind

    event = audit_record(
        actor=AuditActor(kind=AuditActorKind.STAFF, id="staff:1", label="alice"),
        company=world.acme,
        action="membership.suspend",
        object_type="membership",
        object_id=7,
        before={"status": "active", "role": "USER"},
        after={"status": "suspended", "role": "USER"},
    )

    listing = admin_client.get("/admin/tenants/auditevent/")
    page = admin_client.get(f"/admin/tenants/auditevent/{event.pk}/change/")
    add = admin_client.get("/admin/tenants/auditevent/add/")

    assert (event.before, event.after) == ({"status": "active"}, {"status": "suspended"})
    assert listing.status_code == 200
    assert "membership.suspend" in listing.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert add.status_code == 403
