"""Playwright driving the machine's Chromium (Debian's package) against pytest-django's live server.

No `playwright install`: the browser is /usr/bin/chromium, installed by
scripts/setup.d/30-chromium.sh. Without it (or without Playwright) these tests skip and say
why, and fail under CI=true (tests.conftest.missing_part).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_part

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing_part(
            "browser tests need /usr/bin/chromium: run scripts/setup.d/30-chromium.sh (apt chromium)"
        )
    try:
        from playwright import sync_api
    except ImportError:
        missing_part("browser tests need Playwright: run make setup (pip install -r requirements-dev.txt)")
    # Playwright's sync API keeps an event loop running in this thread while it is open, and
    # Django refuses ORM calls from a thread with a running loop. The test's own ORM calls
    # between browser steps are plain synchronous calls: allow them for this test only, and
    # stop Playwright after each test so that later tests run without the loop (and the flag).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Session:
    """One staff member's browser tab, recording Content-Security-Policy violations."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.csp_violations: list[str] = []
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def login(self, username: str, password: str) -> None:
        """Password, then the second factor: enrol an authenticator the first time, else a code."""
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from tests.otp import totp_code

        self.page.goto("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_url("**/admin/second-factor/**")
        # The app's part, done here from the device's key as an authenticator app would.
        device = TOTPDevice.objects.get(user__username=username)
        if self.page.locator("#otp-config-url").count():
            assert self.page.inner_text("#otp-config-url") == device.config_url
            self.shot(f"00-enrol-{username}")
            self.page.fill("#id_code", totp_code(device))
            self.page.click("#otp-enrol-form input[type=submit]")
            assert self.page.locator("#otp-recovery-codes li").count() == 10
            self.page.click("#otp-continue")
        else:
            self.page.fill("#id_code", totp_code(device))
            self.page.click("#otp-verify-form input[type=submit]")
        self.page.wait_for_url("**/admin/")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_session(browser: Any, live_server: Any) -> Iterator[Any]:
    sessions: list[Session] = []

    def factory() -> Session:
        session = Session(browser, live_server.url)
        sessions.append(session)
        return session

    yield factory
    for session in sessions:
        session.close()
