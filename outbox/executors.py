"""What each kind of side effect does: SES, Cognito and webhook calls, from the stored payload.

Each executor gets a finished payload (a rendered email, a username and group, a body to
post) and raises on failure; the runner records the outcome and schedules the retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from django.conf import settings

# outbox.aws imports boto3 only when a client is first made.
from outbox.aws import client, error_code
from outbox.crypto import SEALED, unseal
from outbox.models import SideEffect, SideEffectKind


class EmailNotSent(Exception):
    """SES did not take the email; the message names SES's error code, never the email itself."""

    def __init__(self, message: str, *, aws_code: str = "") -> None:
        super().__init__(message)
        self.aws_code = aws_code  # read by outbox.aws.error_code (throttling is retried)


def _ses_error(exc: Exception) -> str:
    # botocore's ClientError carries SES's code and message (about identities and limits, not
    # the email); anything else (ParamValidationError quotes the parameters it was given, the
    # body included) is named by its type only, so no code reaches last_error or a log.
    error = getattr(exc, "response", None)
    if isinstance(error, dict) and isinstance(error.get("Error"), dict):
        return f"{error['Error'].get('Code', '?')}: {error['Error'].get('Message', '')}"[:500]
    return type(exc).__name__


def _send_email(side_effect: SideEffect) -> None:
    payload = side_effect.payload
    if SEALED not in payload:
        raise EmailNotSent("the body was scrubbed: nothing left to send")
    content = unseal(payload[SEALED])
    kwargs: dict[str, Any] = {
        "Source": payload["from"],
        "Destination": {"ToAddresses": [payload["to"]]},
        "Message": {
            "Subject": {"Data": content["subject"], "Charset": "UTF-8"},
            "Body": {
                "Html": {"Data": content["html"], "Charset": "UTF-8"},
                "Text": {"Data": content["text"], "Charset": "UTF-8"},
            },
        },
    }
    if settings.SES_CONFIGURATION_SET:
        kwargs["ConfigurationSetName"] = settings.SES_CONFIGURATION_SET
    try:
        client("ses").send_email(**kwargs)
    except Exception as exc:
        raise EmailNotSent(_ses_error(exc), aws_code=error_code(exc)) from None


def _cognito_add_to_group(side_effect: SideEffect) -> None:
    p = side_effect.payload
    cognito = client("cognito-idp")
    try:
        cognito.admin_add_user_to_group(
            UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
        )
    except cognito.exceptions.ResourceNotFoundException:
        # The group for a role staff created after deploy: create it, then add again.
        with contextlib.suppress(cognito.exceptions.GroupExistsException):
            cognito.create_group(
                UserPoolId=p["user_pool_id"], GroupName=p["group"], Precedence=p.get("precedence", 100)
            )
        cognito.admin_add_user_to_group(
            UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
        )


def _cognito_remove_from_group(side_effect: SideEffect) -> None:
    p = side_effect.payload
    client("cognito-idp").admin_remove_user_from_group(
        UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
    )


def _cognito_disable_user(side_effect: SideEffect) -> None:
    p = side_effect.payload
    cognito = client("cognito-idp")
    cognito.admin_disable_user(UserPoolId=p["user_pool_id"], Username=p["username"])
    cognito.admin_user_global_sign_out(UserPoolId=p["user_pool_id"], Username=p["username"])


def _cognito_enable_user(side_effect: SideEffect) -> None:
    p = side_effect.payload
    client("cognito-idp").admin_enable_user(UserPoolId=p["user_pool_id"], Username=p["username"])


def _cognito_delete_user(side_effect: SideEffect) -> None:
    p = side_effect.payload
    cognito = client("cognito-idp")
    # Already gone (deleted in the console, or a retry after a lost answer): erased all the same.
    with contextlib.suppress(cognito.exceptions.UserNotFoundException):
        cognito.admin_delete_user(UserPoolId=p["user_pool_id"], Username=p["username"])


def webhook_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookRefused(Exception):
    """The receiver did not accept a delivery (not 2xx, a redirect, no answer in time)."""


def post_within(url: str, body: bytes, headers: dict[str, str], *, seconds: float) -> int:
    """POST `body` and return the status, all of it (connect, send, headers) within `seconds`.

    http.client, not urllib: no redirect is ever followed (a 302 to an internal address must
    not make Gatehouse fetch it). A socket timeout bounds each read, not the call, so a
    watchdog shuts the socket when the deadline passes: a receiver dripping one header line
    at a time cannot hold a trigger past its budget.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("webhook URL must be http(s) with a host")
    deadline = time.monotonic() + seconds
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=seconds)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(seconds, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        response.close()
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or time.monotonic() >= deadline:
            raise WebhookRefused(f"no answer within {seconds:g}s") from None
        raise WebhookRefused(f"{type(exc).__name__}: {exc}") from None
    finally:
        watchdog.cancel()
        connection.close()
    if expired.is_set():
        raise WebhookRefused(f"no answer within {seconds:g}s")
    return status


def _crm_webhook(side_effect: SideEffect) -> None:
    p = side_effect.payload
    secret = settings.CRM_WEBHOOK_SECRET
    if not secret:
        # Settings refuse a URL without a secret; a row queued before that was set waits.
        raise WebhookRefused("CRM_WEBHOOK_SECRET is empty: not posting an unsigned webhook")
    body = json.dumps(p["body"], sort_keys=True, separators=(",", ":")).encode()
    status = post_within(
        str(p["url"]),
        body,
        {
            "Content-Type": "application/json",
            "X-Gatehouse-Signature": webhook_signature(body, secret),
            # At-least-once: a retry, or staff sending a "maybe sent" delivery again, carries
            # the same id, and the receiver drops what it has already seen.
            "Idempotency-Key": side_effect.key,
            "X-Gatehouse-Delivery": side_effect.key,
        },
        seconds=settings.SIDE_EFFECT_TIMEOUT_SECONDS,
    )
    if not 200 <= status < 300:
        # A 3xx is not acceptance either: the receiver never took the delivery.
        raise WebhookRefused(f"CRM webhook answered HTTP {status}")


EXECUTORS: dict[str, Callable[[SideEffect], None]] = {
    SideEffectKind.SEND_EMAIL: _send_email,
    SideEffectKind.COGNITO_ADD_TO_GROUP: _cognito_add_to_group,
    SideEffectKind.COGNITO_REMOVE_FROM_GROUP: _cognito_remove_from_group,
    SideEffectKind.COGNITO_DISABLE_USER: _cognito_disable_user,
    SideEffectKind.COGNITO_ENABLE_USER: _cognito_enable_user,
    SideEffectKind.COGNITO_DELETE_USER: _cognito_delete_user,
    SideEffectKind.CRM_WEBHOOK: _crm_webhook,
}
