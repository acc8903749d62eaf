"""The suite's rule for parts it needs (cognito-local, Chromium, Playwright): skip locally, fail in CI."""

from __future__ import annotations

import pytest

from tests.conftest import missing_part, running_in_ci


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_a_missing_part_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception) as caught:
        missing_part("cognito-local is not installed")
    assert (
        str(caught.value)
        == "cognito-local is not installed (CI=true: every part must be installed, run make setup)"
    )


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_a_missing_part_skips_outside_ci(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert running_in_ci() is False
    with pytest.raises(pytest.skip.Exception) as caught:
        missing_part("cognito-local is not installed")
    assert str(caught.value) == "cognito-local is not installed"
