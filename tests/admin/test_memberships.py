"""Staff manage memberships through the same services: seats, the owner, the last administrator."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.memberships import membership_add
from tenants.models import Company, Membership, MembershipStatus, Role, UserProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db: None) -> Role:
    return Role.objects.create(key="MANAGER", name="Manager", permissions=["users:manage"])


def person(n: int) -> UserProfile:
    return UserProfile.objects.create(cognito_sub=f"s{n}", username=f"u{n}", email=f"p{n}@acme.com")


def test_staff_add_a_membership_within_the_seats(admin_client, acme, roles):
    acme.seat_limit = 1
    acme.save()
    first, second = person(1), person(2)
    url = reverse("admin:tenants_membership_add")

    ok = admin_client.post(url, {"profile": first.pk, "company": acme.pk, "role": roles["USER"].pk})
    full = admin_client.post(url, {"profile": second.pk, "company": acme.pk, "role": roles["USER"].pk})

    assert ok.status_code == 302
    assert full.status_code == 200
    assert "has no free seat" in str(full.context["adminform"].form.errors)
    assert list(Membership.objects.values_list("profile_id", "route")) == [(first.pk, "staff")]
    acme.refresh_from_db()
    assert acme.active_members == 1


def test_removing_the_owner_is_refused_with_the_reason(admin_client, acme, manager):
    owner = person(1)
    membership = membership_add(profile=owner, company=acme, role=manager)

    response = admin_client.post(
        reverse("admin:tenants_membership_changelist"),
        {"action": "remove_selected", "_selected_action": [membership.pk]},
        follow=True,
    )

    texts = [str(m) for m in response.context["messages"]]
    assert "Removed 0 membership(s)." in texts
    assert any("transfer ownership first" in t for t in texts)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE


def test_suspend_in_one_company_and_transfer_ownership_from_the_list(admin_client, acme, roles, manager):
    owner, helper = person(1), person(2)
    membership_add(profile=owner, company=acme, role=manager)
    other = membership_add(profile=helper, company=acme, role=manager)
    globex = Company.objects.create(name="Globex", slug="globex")
    elsewhere = membership_add(profile=helper, company=globex, role=roles["USER"])
    changelist = reverse("admin:tenants_membership_changelist")

    admin_client.post(changelist, {"action": "make_owner", "_selected_action": [other.pk]})
    admin_client.post(changelist, {"action": "suspend_selected", "_selected_action": [elsewhere.pk]})

    acme.refresh_from_db()
    assert acme.owner_id == helper.pk
    elsewhere.refresh_from_db()
    other.refresh_from_db()
    assert (elsewhere.status, other.status) == (MembershipStatus.SUSPENDED, MembershipStatus.ACTIVE)


def test_the_person_page_lists_memberships_and_the_company_page_counts_active_seats(
    admin_client, acme, roles, manager
):
    alice = person(1)
    membership_add(profile=person(9), company=acme, role=manager)
    membership_add(profile=alice, company=acme, role=roles["USER"])
    globex = Company.objects.create(name="Globex", slug="globex")
    membership_add(profile=alice, company=globex, role=roles["USER"])

    page = admin_client.get(reverse("admin:tenants_userprofile_change", args=[alice.pk]))
    company = admin_client.get(reverse("admin:tenants_company_change", args=[acme.pk]))

    assert page.status_code == 200
    assert b"Globex" in page.content
    assert b"Acme" in page.content
    overview = company.context["overview"]
    acme.refresh_from_db()
    assert (overview.members, overview.active_members, overview.owner.pk) == (2, 2, acme.owner_id)


def test_staff_export_and_erase_a_person(admin_client, acme, roles):
    alice = UserProfile.objects.create(
        cognito_sub="a-sub", username="alice", email="alice@acme.com", given_name="Alice"
    )
    membership_add(profile=alice, company=acme, role=roles["USER"])

    export = admin_client.get(reverse("admin:tenants_userprofile_export", args=[alice.pk]))
    refused = admin_client.post(reverse("admin:tenants_userprofile_erase", args=[alice.pk]), {})
    erased = admin_client.post(reverse("admin:tenants_userprofile_erase", args=[alice.pk]), {"confirm": "on"})

    assert export.status_code == 200
    assert export["Content-Disposition"] == f'attachment; filename="person-{alice.pk}.json"'
    assert export.json()["profile"]["email"] == "alice@acme.com"
    assert refused.status_code == 200  # the confirmation box was not ticked: nothing erased
    assert erased.status_code == 302
    alice.refresh_from_db()
    assert (alice.email, alice.given_name) == (f"erased-{alice.pk}@erased.invalid", "")


def test_support_may_export_but_never_erase(support_client, acme):
    alice = UserProfile.objects.create(cognito_sub="a-sub", username="alice", email="alice@acme.com")

    assert support_client.get(reverse("admin:tenants_userprofile_export", args=[alice.pk])).status_code == 200
    erase = support_client.post(
        reverse("admin:tenants_userprofile_erase", args=[alice.pk]), {"confirm": "on"}
    )

    assert erase.status_code == 403
    alice.refresh_from_db()
    assert alice.email == "alice@acme.com"
