"""What each kind of side effect does: SES, Cognito and webhook calls, from the stored payload.

Each executor gets a finished payload (a rendered email, a username and group, a body to
post) and raises on failure; the runner records the outcome and schedules the retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings

# outbox.aws imports boto3 only when a client is first made.
from outbox.aws import client
from outbox.models import SideEffect, SideEffectKind


def _send_email(side_effect: SideEffect) -> None:
    payload = side_effect.payload
    kwargs: dict[str, Any] = {
        "Source": payload["from"],
        "Destination": {"ToAddresses": [payload["to"]]},
        "Message": {
            "Subject": {"Data": payload["subject"], "Charset": "UTF-8"},
            "Body": {
                "Html": {"Data": payload["html"], "Charset": "UTF-8"},
                "Text": {"Data": payload["text"], "Charset": "UTF-8"},
            },
        },
    }
    if settings.SES_CONFIGURATION_SET:
        kwargs["ConfigurationSetName"] = settings.SES_CONFIGURATION_SET
    client("ses").send_email(**kwargs)


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


def _crm_webhook(side_effect: SideEffect) -> None:
    p = side_effect.payload
    if not str(p["url"]).startswith(("https://", "http://")):
        raise ValueError("CRM webhook URL must be http(s)")
    body = json.dumps(p["body"], sort_keys=True, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above; URL is staff config
        p["url"],
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Gatehouse-Signature": webhook_signature(body, settings.CRM_WEBHOOK_SECRET),
            # Lets the receiver drop a delivery it has already seen.
            "Idempotency-Key": side_effect.key,
        },
    )
    timeout = settings.SIDE_EFFECT_TIMEOUT_SECONDS
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"CRM webhook answered HTTP {response.status}")


EXECUTORS: dict[str, Callable[[SideEffect], None]] = {
    SideEffectKind.SEND_EMAIL: _send_email,
    SideEffectKind.COGNITO_ADD_TO_GROUP: _cognito_add_to_group,
    SideEffectKind.COGNITO_REMOVE_FROM_GROUP: _cognito_remove_from_group,
    SideEffectKind.COGNITO_DISABLE_USER: _cognito_disable_user,
    SideEffectKind.COGNITO_ENABLE_USER: _cognito_enable_user,
    SideEffectKind.COGNITO_DELETE_USER: _cognito_delete_user,
    SideEffectKind.CRM_WEBHOOK: _crm_webhook,
}
