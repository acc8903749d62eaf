"""Memberships: one person in several companies, seats, the last administrator, the owner."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from tenants.memberships import (
    MembershipError,
    active_company_switch,
    membership_add,
    membership_change_role,
    membership_reactivate,
    membership_remove,
    membership_suspend,
    ownership_transfer,
)
from tenants.models import Company, Membership, MembershipStatus, Role, UserProfile
from tests.reliability.conftest import run_concurrently

pytestmark = pytest.mark.django_db


def person(n: int) -> UserProfile:
    return UserProfile.objects.create(cognito_sub=f"sub-{n}", username=f"user-{n}", email=f"p{n}@example.com")


@pytest.fixture
def roles(roles: dict[str, Any]) -> dict[str, Any]:
    # An administrator is a role that may manage members ("users:manage" or "*").
    roles["ADMIN"].permissions = [*roles["ADMIN"].permissions, "users:manage"]
    roles["ADMIN"].save()
    return roles


@pytest.fixture
def globex(db: None) -> Company:
    return Company.objects.create(name="Globex", slug="globex", subscription_tier="free")


def test_one_person_in_two_companies_with_different_roles(acme, globex, roles):
    alice = person(1)

    in_acme = membership_add(profile=alice, company=acme, role=roles["ADMIN"])
    in_globex = membership_add(profile=alice, company=globex, role=roles["USER"])

    alice.refresh_from_db()
    assert (in_acme.role.key, in_globex.role.key) == ("ADMIN", "USER")
    # The first membership decides the active company; the old columns mirror it.
    assert (alice.active_company_id, alice.company_id, alice.role_id) == (acme.pk, acme.pk, roles["ADMIN"].pk)
    active_company_switch(profile=alice, company=globex)
    alice.refresh_from_db()
    assert (alice.active_company_id, alice.company_id, alice.role_id) == (
        globex.pk,
        globex.pk,
        roles["USER"].pk,
    )


def test_adding_again_changes_nothing_and_counts_one_seat(acme, roles):
    alice = person(1)
    first = membership_add(profile=alice, company=acme, role=roles["USER"])
    again = membership_add(profile=alice, company=acme, role=roles["ADMIN"])

    assert (first.pk, again.role) == (again.pk, roles["USER"])
    acme.refresh_from_db()
    assert acme.active_members == 1 == Membership.objects.active().filter(company=acme).count()


def test_seats_count_active_memberships_only(acme, roles):
    acme.seat_limit = 2
    acme.save()
    a, b, c = person(1), person(2), person(3)
    membership_add(profile=a, company=acme, role=roles["ADMIN"])
    second = membership_add(profile=b, company=acme, role=roles["USER"])
    with pytest.raises(MembershipError) as full:
        membership_add(profile=c, company=acme, role=roles["USER"])
    assert full.value.reason == "company_full"
    assert not Membership.objects.filter(profile=c).exists()

    membership_suspend(membership=second)  # a suspended member frees the seat
    membership_add(profile=c, company=acme, role=roles["USER"])
    with pytest.raises(MembershipError):
        membership_reactivate(membership=second)
    acme.refresh_from_db()
    assert acme.active_members == 2 == Membership.objects.active().filter(company=acme).count()


def test_a_role_of_another_company_is_refused_by_the_service_and_by_the_database(acme, globex, roles):
    globex_role = Role.objects.create(key="AUDITOR", name="Auditor", company=globex)
    alice = person(1)
    with pytest.raises(MembershipError):
        membership_add(profile=alice, company=acme, role=globex_role)
    # The database refuses it too, whatever code writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(profile=alice, company=acme, role=globex_role, route="staff")


def test_suspension_in_one_company_keeps_the_other(acme, globex, roles):
    alice = person(1)
    admin = person(2)
    membership_add(profile=admin, company=acme, role=roles["ADMIN"])
    in_acme = membership_add(profile=alice, company=acme, role=roles["USER"])
    membership_add(profile=alice, company=globex, role=roles["USER"])

    assert membership_suspend(membership=in_acme) is True
    assert list(
        Membership.objects.active().filter(profile=alice).values_list("company__slug", flat=True)
    ) == ["globex"]
    alice.refresh_from_db()
    # Acme was active: its suspended membership grants nothing, so the old columns hold none.
    assert (alice.active_company_id, alice.company_id, alice.role_id) == (acme.pk, None, None)


def test_the_last_administrator_and_the_owner_cannot_be_lost(acme, roles):
    owner, other = person(1), person(2)
    owner_m = membership_add(profile=owner, company=acme, role=roles["ADMIN"])
    acme.refresh_from_db()
    assert acme.owner_id == owner.pk  # the first administrator owns the company

    for change in (
        lambda: membership_change_role(membership=owner_m, role=roles["USER"]),
        lambda: membership_suspend(membership=owner_m),
        lambda: membership_remove(membership=owner_m),
    ):
        with pytest.raises(MembershipError) as refused:
            change()
        assert refused.value.reason == "owner"

    other_m = membership_add(profile=other, company=acme, role=roles["USER"])
    with pytest.raises(MembershipError) as not_admin:
        ownership_transfer(company=acme, to=other)
    assert not_admin.value.reason == "not_admin"
    membership_change_role(membership=other_m, role=roles["ADMIN"])
    assert ownership_transfer(company=acme, to=other) is True
    # The old owner may go now; the new owner is the last administrator and may not.
    assert membership_remove(membership=owner_m) is True
    with pytest.raises(MembershipError) as last:
        membership_remove(membership=other_m)
    assert last.value.reason == "owner"


def test_removal_moves_the_active_company_and_an_ended_member_can_come_back(acme, globex, roles):
    membership_add(profile=person(9), company=acme, role=roles["ADMIN"])
    alice = person(1)
    in_acme = membership_add(profile=alice, company=acme, role=roles["USER"])
    membership_add(profile=alice, company=globex, role=roles["USER"])

    assert membership_remove(membership=in_acme) is True
    alice.refresh_from_db()
    assert (alice.active_company_id, alice.company_id) == (globex.pk, globex.pk)
    in_acme.refresh_from_db()
    assert in_acme.status == MembershipStatus.ENDED
    assert in_acme.ended_at is not None
    acme.refresh_from_db()
    assert acme.active_members == 1

    back = membership_add(profile=alice, company=acme, role=roles["ADMIN"])
    assert (back.pk, back.status, back.ended_at) == (in_acme.pk, MembershipStatus.ACTIVE, None)


def test_switching_to_a_company_without_an_active_membership_is_refused(acme, globex, roles):
    alice = person(1)
    membership_add(profile=alice, company=acme, role=roles["USER"])
    with pytest.raises(MembershipError) as refused:
        active_company_switch(profile=alice, company=globex)
    assert refused.value.reason == "not_member"
    alice.refresh_from_db()
    assert alice.active_company_id == acme.pk


def test_group_changes_are_queued_only_for_groups_no_other_membership_needs(acme, globex, roles, settings):
    from outbox.models import SideEffect

    settings.COGNITO_USER_POOL_ID = "us-east-1_TEST"
    membership_add(profile=person(9), company=acme, role=roles["ADMIN"])
    alice = person(1)
    in_acme = membership_add(profile=alice, company=acme, role=roles["USER"])
    in_globex = membership_add(profile=alice, company=globex, role=roles["USER"])

    membership_remove(membership=in_acme)
    # Globex still needs the USER group: nothing is removed in Cognito.
    assert not SideEffect.objects.filter(kind="cognito_remove_from_group").exists()
    membership_remove(membership=in_globex)
    assert list(
        SideEffect.objects.filter(kind="cognito_remove_from_group").values_list("payload__group", flat=True)
    ) == ["USER"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_demotions_never_leave_a_company_without_an_administrator(roles):
    company = Company.objects.create(name="Initech", slug="initech")
    admins = [person(n) for n in range(4)]
    memberships = [membership_add(profile=p, company=company, role=roles["ADMIN"]) for p in admins]
    # Nobody owns it, so only the last-administrator rule stands between a demotion and none.
    Company.objects.filter(pk=company.pk).update(owner=None)

    def demote(index: int) -> Any:
        return membership_change_role(membership=memberships[index], role=roles["USER"])

    results = run_concurrently(4, demote)

    refused = [r for r in results if isinstance(r, MembershipError)]
    assert [r.reason for r in refused] == ["last_admin"]
    assert sum(1 for r in results if r is True) == 3
    assert Membership.objects.filter(company=company, role=roles["ADMIN"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_respect_the_seats(roles):
    company = Company.objects.create(name="Hooli", slug="hooli", seat_limit=3)
    people = [person(n) for n in range(8)]

    results = run_concurrently(
        8, lambda i: membership_add(profile=people[i], company=company, role=roles["USER"])
    )

    assert sum(1 for r in results if isinstance(r, Membership)) == 3
    assert {r.reason for r in results if isinstance(r, MembershipError)} == {"company_full"}
    company.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM tenants_membership WHERE company_id = %s AND status = 'active'",
            [company.pk],
        )
        (counted,) = cursor.fetchone()
    assert company.active_members == counted == 3
