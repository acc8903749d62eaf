"""Log hygiene for the whole test suite: a test fails when Gatehouse logs a secret.

Registered from tests/conftest.py (pytest_plugins), so it runs for every test. A handler on
the root logger sees every record while a test sets up and runs; records of the loggers
Gatehouse owns (and Django's request/security loggers, and the root logger when the call
comes from our code) are formatted exactly as production writes them
(backoffice.logging.JsonFormatter: message, extras and traceback), then searched for:

- a full email address (masked forms like a***@acme.com are fine),
- an invitation code (XXXX-XXXX-XXXX-XXXX),
- a password hash in Django's format or a raw bcrypt/argon2 hash,
- a password the tests use, and any value a test registered with `log_secrets.add(...)`
  (the passwordless code it read from the email, a migration password).

A test that must log such a thing on purpose is marked `@pytest.mark.log_secrets_allowed`.
Only records at the levels that are enabled reach the handler (INFO in the test settings).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
OWN_LOGGERS = (
    "gatehouse",
    "triggers",
    "tenants",
    "invites",
    "outbox",
    "backoffice",
    "bench",
    "django.request",
    "django.security",
)
OWN_PACKAGES = tuple(
    str(PROJECT_DIR / name) + "/" for name in ("triggers", "tenants", "invites", "outbox", "backoffice")
)

PATTERNS: dict[str, re.Pattern[str]] = {
    # A local part right before the @: "a***@acme.com" has none, so masked forms pass.
    "email address": re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    "invitation code": re.compile(r"\b[A-Z0-9]{4}(?:-[A-Z0-9]{4}){3}\b"),
    "password hash": re.compile(
        r"\b(?:pbkdf2_sha256|pbkdf2_sha1|pbkdf2_wrapped_md5|pbkdf2_wrapped_sha1|argon2|bcrypt_sha256"
        r"|bcrypt|scrypt|md5|sha1)\$[^\s\"']{4,}"
        r"|\$2[aby]\$\d\d\$|\$argon2(?:id|i|d)\$"
    ),
}
# Passwords written in the tests (tests/**: grep PASSWORD); a registered secret covers the rest.
KNOWN_PASSWORDS = frozenset(
    {
        "pw-for-tests-only",
        "right-password-1",
        "hunter2-but-longer",
        "correct horse battery staple",
        "Correct-horse-battery-9",
        "browser-test-password-1",
        "Staff-pass-for-lambda-tests-1",
        "wrong-guess-123",
    }
)
# Configuration, not personal data: the sender every email goes out from.
ALLOWED_ADDRESSES = frozenset({"no-reply@gatehouse.test", "no-reply@example.com"})
MIN_SECRET_LENGTH = 4  # shorter registered values would match by accident


@dataclass
class Leak:
    logger: str
    kind: str
    line: str

    def __str__(self) -> str:
        return f"[{self.logger}] {self.kind}: {self.line[:400]}"


@dataclass
class SecretRegistry:
    """Values a test knows must never be logged (a code read from an email, a password)."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self.values.add(value)


def _formatter() -> logging.Formatter:
    from backoffice.logging import JsonFormatter

    return JsonFormatter()


def is_ours(record: logging.LogRecord) -> bool:
    name = record.name
    if any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS):
        return True
    return name == "root" and str(record.pathname).startswith(OWN_PACKAGES)


def find_secrets(text: str, registry: SecretRegistry | None = None) -> list[str]:
    """The kinds of secret found in one formatted log line."""
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            if kind == "email address" and match.group(0).lower() in ALLOWED_ADDRESSES:
                continue
            found.append(kind)
            break
    if any(password in text for password in KNOWN_PASSWORDS):
        found.append("test password")
    if registry is not None and any(value in text for value in registry.values):
        found.append("registered secret")
    return found


class HygieneHandler(logging.Handler):
    """Keeps our records as production would write them; thread-safe (workers log too).

    Lines are searched when the test ends, so a secret registered late still counts.
    """

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__(level=logging.NOTSET)
        self.registry = registry
        self.lines: list[tuple[str, str]] = []
        self._checked = 0
        self._formatter = _formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if not is_ours(record):
            return
        try:
            line = self._formatter.format(record)
        except Exception as exc:  # a record that cannot be formatted is a bug of its own
            line = f"unformattable record {record.msg!r}: {exc!r}"
        self.lines.append((record.name, line))  # list.append is atomic under the GIL

    def take(self) -> list[Leak]:
        """The leaks in the lines not searched yet."""
        lines = self.lines[self._checked :]
        self._checked += len(lines)
        return [Leak(name, kind, line) for name, line in lines for kind in find_secrets(line, self.registry)]


_KEY = pytest.StashKey[HygieneHandler]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "log_secrets_allowed: this test logs an email, code or password on purpose"
    )


def _install(item: pytest.Item) -> HygieneHandler:
    handler = HygieneHandler(SecretRegistry())
    logging.getLogger().addHandler(handler)
    item.stash[_KEY] = handler
    return handler


def _check(item: pytest.Item, when: str) -> None:
    handler = item.stash.get(_KEY, None)
    if handler is None or item.get_closest_marker("log_secrets_allowed") is not None:
        return
    leaks = handler.take()
    if leaks:
        listed = "\n".join(f"  {leak}" for leak in leaks[:10])
        pytest.fail(
            f"{len(leaks)} log record(s) during {when} hold a secret or personal data:\n{listed}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    _install(item)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    # Reached only when the test itself passed: a failing test keeps its own report.
    _check(item, "setup and call")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        handler = item.stash.get(_KEY, None)
        if handler is not None:
            logging.getLogger().removeHandler(handler)


@pytest.fixture
def log_secrets(request: pytest.FixtureRequest) -> SecretRegistry:
    """Register values this test knows must never be logged: `log_secrets.add(code)`."""
    handler = request.node.stash.get(_KEY, None)
    return handler.registry if handler is not None else SecretRegistry()


@pytest.fixture
def log_hygiene(request: pytest.FixtureRequest) -> HygieneHandler:
    """The handler watching this test's records (to assert on what it checked)."""
    return request.node.stash[_KEY]
