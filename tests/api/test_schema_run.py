"""A bounded schema-driven run (schemathesis): generated requests to every operation of the
document, as the owner of Acme; no answer is a 5xx, every documented answer matches the schema."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import World

EXAMPLES_PER_OPERATION = 8


@pytest.fixture
def _connection_kept_across_requests() -> Iterator[None]:
    """What django.test.Client does: a request must not close the test transaction's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_connection_kept_across_requests")
def test_generated_requests_never_get_a_5xx_and_match_the_schema(world: World) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    token = world.mint(world.people["owner"].cognito_sub)
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: Counter[int] = Counter()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            if case.path_parameters and "company_id" in case.path_parameters:
                case.path_parameters["company_id"] = world.acme.pk  # inside the caller's company
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()

    assert len(operations) == 20
    assert sum(statuses.values()) >= len(operations)
    assert statuses[200] > 0
    assert [code for code in statuses if code >= 500] == []
    if time.monotonic() - started > 60:
        pytest.fail("the schema run took over a minute: lower EXAMPLES_PER_OPERATION")
