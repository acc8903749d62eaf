"""boto3 clients, created on first use so the trigger import path stays free of boto3."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    timeout = settings.SIDE_EFFECT_TIMEOUT_SECONDS
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        # One attempt: the outbox retries with backoff, not botocore inside a trigger. (botocore's
        # "max_attempts" counts retries, so 1 meant a second call: twice the time inside
        # Cognito's 5 s, and a second email when SES was only slow. tests/reliability/test_faults)
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        service,
        region_name=settings.AWS_REGION,
        # A service's own emulator (make run's embedded AWS) before the one for every service.
        endpoint_url=settings.AWS_SERVICE_ENDPOINTS.get(service) or settings.AWS_ENDPOINT_URL,
        config=config,
    )


def reset_clients() -> None:
    """Forget cached clients (tests point them at a fresh emulator)."""
    client.cache_clear()


# The codes SES and Cognito answer when a caller goes over a rate quota: the call did nothing.
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or of what wraps one), else ''."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            return str(response["Error"].get("Code", ""))
        code = getattr(candidate, "aws_code", "")
        if code:
            return str(code)
    return ""


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES
