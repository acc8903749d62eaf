"""Staff accounts of each kind, for the admin tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tenants.staff import ADMINISTRATORS, SUPPORT, staff_groups_sync
from tests.otp import force_login_verified


@pytest.fixture
def staff_groups(db: None) -> None:
    # The data migration made them; a transactional test's flush may have removed them.
    staff_groups_sync()


def _staff_client(django_user_model: Any, username: str, group: str) -> Client:
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username, f"{username}@example.com", "pw-for-tests-only", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    force_login_verified(client, user)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def support_client(staff_groups: None, django_user_model: Any) -> Client:
    return _staff_client(django_user_model, "sam-support", SUPPORT)


@pytest.fixture
def administrator_client(staff_groups: None, django_user_model: Any) -> Client:
    return _staff_client(django_user_model, "ada-admin", ADMINISTRATORS)


@pytest.fixture
def member(acme: Any, roles: dict[str, Any]) -> Any:
    from tenants.models import UserProfile

    return UserProfile.objects.create(
        cognito_sub="sub-member",
        username="member-user",
        email="member@acme.com",
        given_name="Mia",
        company=acme,
        role=roles["USER"],
    )
