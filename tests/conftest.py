"""Shared fixtures: real Postgres (pytest-django), moto's server for AWS, domain objects."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest
from django.test import Client

from outbox.aws import reset_clients

REGION = "us-east-1"
SENDER = "no-reply@gatehouse.test"


def running_in_ci() -> bool:
    """CI=true (GitHub Actions, GitLab CI and most others set it; "1" is accepted too)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_part(reason: str) -> NoReturn:
    """A part the suite needs (cognito-local, Chromium, Playwright) is not installed.

    On a developer's machine the tests that need it skip and say why. Under CI they fail: a
    skip there would let a green run hide that the end-to-end or browser tests never ran.
    """
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true: every part must be installed, run make setup)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A local port nothing listens on (yet): for servers the tests start, or a service down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoServer:
    url: str

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"))

    def ses_messages(self) -> list[Any]:
        """What SES recorded as sent (moto's in-process backend, shared with the server)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto builds each service's backend on its first request, which can take longer than the
    # outbox's 1 s client timeout on a loaded machine: warm them here, with botocore's defaults,
    # so the first test to use `aws` does not fail its setup on a timeout.
    import boto3

    for service in ("ses", "cognito-idp", "sqs"):
        warm = boto3.client(
            service,
            region_name=REGION,
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        if service == "ses":
            warm.list_identities()
        elif service == "sqs":
            warm.list_queues()
        else:
            warm.list_user_pools(MaxResults=1)
    try:
        yield MotoServer(url=url)
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, settings: Any) -> Iterator[MotoServer]:
    """A clean emulated AWS for one test: SES with a verified sender, boto3 pointed at it."""
    moto_server.reset()
    settings.AWS_ENDPOINT_URL = moto_server.url
    settings.AWS_REGION = REGION
    settings.SES_SENDER = f"Gatehouse <{SENDER}>"
    reset_clients()
    import boto3

    # The fixture's own call with botocore's timeouts, not the outbox's 1 s client: on a loaded
    # machine moto can take longer than that, and the setup is not what a test measures.
    boto3.client(
        "ses",
        region_name=REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).verify_email_identity(EmailAddress=SENDER)
    yield moto_server
    reset_clients()


@pytest.fixture
def cognito_pool(aws: MotoServer, settings: Any) -> str:
    import boto3
    from botocore.config import Config

    # The test's own client, with time to spare: moto makes a signing key for every pool
    # (0.3-0.6 s here), which on a loaded machine outlasted the 1 s budget of Gatehouse's
    # clients and failed the fixture, not the test. Gatehouse's calls keep their budget.
    cognito = boto3.client(
        "cognito-idp", endpoint_url=aws.url, region_name=REGION, config=Config(read_timeout=30)
    )
    pool_id = cognito.create_user_pool(PoolName="gatehouse-test")["UserPool"]["Id"]
    settings.COGNITO_USER_POOL_ID = pool_id
    return pool_id


@pytest.fixture
def roles(db: None) -> dict[str, Any]:
    from tenants.models import Role

    return {
        "USER": Role.objects.create(
            key="USER", name="User", permissions=["profile:read"], cognito_group="USER"
        ),
        "ADMIN": Role.objects.create(
            key="ADMIN",
            name="Administrator",
            permissions=["profile:read", "users:invite"],
            cognito_group="ADMIN",
        ),
        "SUPER_ADMIN": Role.objects.create(key="SUPER_ADMIN", name="Super admin", permissions=["*"]),
    }


@pytest.fixture
def acme(db: None) -> Any:
    from tenants.models import Company

    return Company.objects.create(name="Acme", slug="acme", subscription_tier="pro", seat_limit=10)


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


@pytest.fixture
def admin_client(db: None, django_user_model: Any) -> Client:
    from tests.otp import force_login_verified

    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-for-tests-only")
    client = Client()
    force_login_verified(client, user)
    return client


@pytest.fixture(autouse=True)
def _fresh_trigger_caches() -> Iterator[None]:
    """Per-container caches must not carry one test's users, or a re-routed family, into the next."""
    from triggers.claims import claims_cache_clear
    from triggers.registry import handler_for_family

    claims_cache_clear()
    handler_for_family.cache_clear()
    yield
    claims_cache_clear()
    handler_for_family.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """End connections threads left open, so dropping the test database does not wait on them.

    Thread-based tests close their own connections, but a thread killed by a failing assertion
    may not; DROP DATABASE would then wait past the statement timeout.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()


# Every test fails when Gatehouse logs an email, code, password or hash (tests/log_hygiene.py).
pytest_plugins = ["tests.log_hygiene"]
