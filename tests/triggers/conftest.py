"""Fixtures for the trigger tests: the sign-up policy, roles, invitations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from triggers import registry


@pytest.fixture
def policy(db: None) -> Any:
    """The sign-up policy row with its defaults (invitation required, 20 sign-ups per IP)."""
    from invites.models import SignupPolicy

    row, _ = SignupPolicy.objects.get_or_create(pk=1)
    return row


@pytest.fixture
def open_policy(policy: Any) -> Any:
    """A policy that lets anyone sign up without an invitation."""
    policy.invitation_required = False
    policy.save()
    return policy


@pytest.fixture
def invite(roles: dict[str, Any]) -> Callable[..., Any]:
    """Create an invitation through the service; returns IssuedInvitation (invitation and code)."""
    from invites.services import invitation_create

    def make(company: Any, email: str = "alice@acme.com", role: str = "USER", **kwargs: Any) -> Any:
        return invitation_create(company=company, email=email, role=roles[role], **kwargs)

    return make


@pytest.fixture(autouse=True)
def _fresh_registry() -> Any:
    """Handlers are cached per family; a test that re-routes a family must not leak it."""
    registry.handler_for_family.cache_clear()
    yield
    registry.handler_for_family.cache_clear()
