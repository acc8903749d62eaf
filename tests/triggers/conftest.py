"""Fixtures for the trigger tests: the sign-up policy, roles, invitations."""

from __future__ import annotations

from typing import Any

import pytest

from triggers import registry


@pytest.fixture(autouse=True)
def _fresh_registry() -> Any:
    """Handlers are cached per family; a test that re-routes a family must not leak it."""
    registry.handler_for_family.cache_clear()
    yield
    registry.handler_for_family.cache_clear()
