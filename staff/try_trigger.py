"""Try a trigger: run the real entry point on an event inside a transaction that is rolled back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from staff.forms import TriggerTryForm
from tenants.models import (
    UserProfile,
)

# --- Try a trigger -----------------------------------------------------------------------


def sample_event(*, trigger_source: str, version: str, profile: UserProfile | None) -> dict[str, Any]:
    """An event shaped like Cognito's for this trigger, about this user (or a made-up one)."""
    if profile is not None:
        username, sub, email = profile.username, profile.cognito_sub, profile.email
        names = {"given_name": profile.given_name, "family_name": profile.family_name}
    else:
        sub = "00000000-0000-4000-8000-000000000000"
        username, email = sub, "new.user@example.com"
        names = {"given_name": "New", "family_name": "User"}
    attributes = {
        "sub": sub,
        "email": email,
        "email_verified": "true",
        **{k: v for k, v in names.items() if v},
    }
    family = trigger_source.partition("_")[0]
    request: dict[str, Any] = {"userAttributes": attributes}
    if family == "PreSignUp":
        attributes.pop("sub")
        attributes["email_verified"] = "false"
        request |= {"validationData": {}, "clientMetadata": {}}
    elif family in {"PostConfirmation", "CustomMessage"}:
        request["clientMetadata"] = {}
    elif family == "PostAuthentication":
        request["newDeviceUsed"] = False
    elif family == "PreAuthentication":
        request["validationData"] = {}
    elif family == "TokenGeneration":
        group = profile.role.group_name if profile is not None and profile.role else ""
        request["groupConfiguration"] = {
            "groupsToOverride": [group] if group else [],
            "iamRolesToOverride": [],
            "preferredRole": None,
        }
        if version in {"2", "3"}:
            request["scopes"] = ["openid", "email", "profile"]
    if family == "CustomMessage":
        request |= {
            "codeParameter": "{####}",
            "usernameParameter": "{username}",
            "linkParameter": "{##Click##}",
        }
    elif family in {"DefineAuthChallenge", "CreateAuthChallenge"}:
        request["session"] = []
        if family == "CreateAuthChallenge":
            request["challengeName"] = "CUSTOM_CHALLENGE"
    elif family == "VerifyAuthChallengeResponse":
        request |= {"privateChallengeParameters": {}, "challengeAnswer": ""}
    elif family == "UserMigration":
        request = {"password": "", "validationData": {}}
    return {
        "version": version,
        "triggerSource": trigger_source,
        "region": settings.AWS_REGION,
        "userPoolId": settings.COGNITO_USER_POOL_ID or f"{settings.AWS_REGION}_EXAMPLE",
        "userName": username,
        "callerContext": {
            "awsSdkVersion": "aws-sdk-unknown-unknown",
            "clientId": settings.COGNITO_APP_CLIENT_ID or "example-client-id",
        },
        "request": request,
        "response": {},
    }


def claims_sizes(response: Any) -> dict[str, int]:
    """Bytes of the claims a pre token generation answer adds, per token (compact JSON)."""
    if not isinstance(response, dict):
        return {}

    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

    sizes = {}
    v1 = response.get("claimsOverrideDetails")
    if isinstance(v1, dict) and v1.get("claimsToAddOrOverride"):
        sizes["ID token"] = size(v1["claimsToAddOrOverride"])
    v2 = response.get("claimsAndScopeOverrideDetails")
    if isinstance(v2, dict):
        for key, label in (("idTokenGeneration", "ID token"), ("accessTokenGeneration", "access token")):
            part = v2.get(key)
            if isinstance(part, dict) and part.get("claimsToAddOrOverride"):
                sizes[label] = size(part["claimsToAddOrOverride"])
    return sizes


@dataclass
class TryResult:
    event: dict[str, Any]
    outcome: str  # answered, rejected, invalid, error
    response: Any = None
    message: str = ""
    detail: str = ""
    error_type: str = ""
    duration_ms: float = 0.0
    queries: int = 0
    claims: dict[str, int] = field(default_factory=dict)

    @property
    def response_json(self) -> str:
        return json.dumps(self.response, indent=2, sort_keys=True, default=str)

    @property
    def event_json(self) -> str:
        return json.dumps(self.event, indent=2, default=str)


class QueryCount:
    count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def query_counter() -> Iterator[QueryCount]:
    """Count the statements run inside the block (Django's execute_wrapper; no test utility)."""
    counter = QueryCount()
    with connection.execute_wrapper(counter):
        yield counter


# Their attempt counters (legacy passwords, login codes) would be rolled back with the rest,
# giving whoever uses this page unlimited guesses: these families are never run here.
REFUSED_FAMILIES = ("UserMigration", "VerifyAuthChallengeResponse")
REFUSED_MESSAGE = (
    "User migration and verify auth challenge events cannot be tried here: a try is rolled "
    "back, attempt limits with it, so it would allow unlimited password and code guesses."
)


def trigger_try(event: dict[str, Any]) -> TryResult:
    """Run the real entry point on an event, then roll back everything it wrote.

    Side effects are safe too: the outbox runs them on commit, which never comes.
    """
    source = event.get("triggerSource") if isinstance(event, dict) else None
    if isinstance(source, str) and source.partition("_")[0] in REFUSED_FAMILIES:
        return TryResult(event=event, outcome="refused", message=REFUSED_MESSAGE)
    # Imported when a try runs: lambda_handler sets the trigger process up on import.
    from triggers import lambda_handler
    from triggers.errors import MalformedEvent, Rejection, TriggerError, UnknownTrigger

    result = TryResult(event=event, outcome="answered")
    # invoke() leaves a connection inside a caller's transaction alone (it recycles only
    # connections between invocations), so the rollback below covers everything it wrote.
    started = time.perf_counter()
    with query_counter() as queries, transaction.atomic():
        try:
            answer = lambda_handler.invoke(json.loads(json.dumps(event)))
            result.response = answer.get("response") if isinstance(answer, dict) else answer
            result.claims = claims_sizes(result.response)
        except Rejection as rejection:
            result.outcome, result.message = "rejected", rejection.public_message
            result.detail = f"reason: {rejection.reason}. {rejection.detail}".strip()
        except (MalformedEvent, UnknownTrigger) as error:
            result.outcome, result.message, result.detail = (
                "invalid",
                error.public_message,
                error.detail,
            )
            result.error_type = type(error).__name__
        except TriggerError as error:
            result.outcome, result.message, result.detail = (
                "error",
                error.public_message,
                error.detail,
            )
            result.error_type = type(error).__name__
            if error.__cause__ is not None:
                result.detail = f"{type(error.__cause__).__name__}: {error.__cause__}"
        # Undo everything the try wrote; on_commit side effects never run.
        transaction.set_rollback(True)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    result.queries = queries.count
    return result


def try_trigger_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("tenants.use_trigger_console"):
        raise PermissionDenied
    form = TriggerTryForm(request.POST or None)
    result = None
    if request.method == "POST" and form.is_valid():
        event = form.cleaned_data["event"] or sample_event(
            trigger_source=form.cleaned_data["trigger_source"],
            version=form.cleaned_data["version"],
            profile=form.cleaned_data["user"],
        )
        result = trigger_try(event)
    context = {
        **admin.site.each_context(request),
        "title": "Try a trigger",
        "form": form,
        "result": result,
        "claims_budget": settings.CLAIMS_BYTE_BUDGET,
    }
    return TemplateResponse(request, "admin/gatehouse/try_trigger.html", context)
