"""Cognito events for tests: built ones, our captured ones, and the public reference set."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

CAPTURED_DIR = Path(__file__).resolve().parent.parent / "events"
# Vendored (tests/events/README.md says where each file came from): a test that needs one can
# never skip for want of a folder outside the repository.
REFERENCE_DIR = CAPTURED_DIR / "reference"
POOL_ID = "us-east-1_TESTPOOL"

# Every triggerSource of the two sign-up triggers (AWS Cognito developer guide).
PRE_SIGN_UP_SOURCES = ("PreSignUp_SignUp", "PreSignUp_AdminCreateUser", "PreSignUp_ExternalProvider")
POST_CONFIRMATION_SOURCES = ("PostConfirmation_ConfirmSignUp", "PostConfirmation_ConfirmForgotPassword")


def make_event(
    trigger_source: str,
    *,
    email: str | None = "alice@acme.com",
    user_name: str | None = None,
    sub: str | None = None,
    attributes: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    user_pool_id: str = POOL_ID,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event shaped like the ones Cognito sends (see tests/events/ for captured ones)."""
    sub = sub or str(uuid.uuid4())
    user_attributes: dict[str, Any] = {"sub": sub, "cognito:user_status": "UNCONFIRMED"}
    if email is not None:
        user_attributes["email"] = email
        user_attributes["email_verified"] = "false"
    user_attributes.update(attributes or {})
    request: dict[str, Any] = {"userAttributes": user_attributes}
    if metadata is not None:
        request["clientMetadata"] = metadata
    return {
        "version": "1",
        "region": "us-east-1",
        "userPoolId": user_pool_id,
        "userName": user_name or sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-js-3.600.0", "clientId": "testclientid"},
        "triggerSource": trigger_source,
        "request": request,
        "response": copy.deepcopy(response) if response is not None else {},
    }


def load_json(path: Path) -> Any:
    # utf-8-sig: the aws-lambda-dotnet files start with a byte-order mark.
    return json.loads(path.read_text(encoding="utf-8-sig"))


def captured(name: str) -> dict[str, Any]:
    return load_json(CAPTURED_DIR / name)


# For reference files whose triggerSource is a placeholder ("trigger_source" in
# aws-lambda-dotnet, "testTrigger" in the AWS guide), missing (the guide's other test
# events) or not a real value ("PreTokenGen" in aws-lambda-go): the source their file
# name stands for. Order matters: the first fragment found in the lower-cased name wins.
SOURCE_BY_NAME = (
    ("presignup", "PreSignUp_SignUp"),
    ("pre-sign-up", "PreSignUp_SignUp"),
    ("postconfirmation", "PostConfirmation_ConfirmSignUp"),
    ("post-confirmation", "PostConfirmation_ConfirmSignUp"),
    ("preauthentication", "PreAuthentication_Authentication"),
    ("pre-authentication", "PreAuthentication_Authentication"),
    ("postauthentication", "PostAuthentication_Authentication"),
    ("post-authentication", "PostAuthentication_Authentication"),
    ("pre-token-generation", "TokenGeneration_Authentication"),
    ("pretokengen", "TokenGeneration_Authentication"),
    ("pretoken", "TokenGeneration_Authentication"),
    ("defineauthchallenge", "DefineAuthChallenge_Authentication"),
    ("define-auth-challenge", "DefineAuthChallenge_Authentication"),
    ("createauthchallenge", "CreateAuthChallenge_Authentication"),
    ("create-auth-challenge", "CreateAuthChallenge_Authentication"),
    ("verifyauthchallenge", "VerifyAuthChallengeResponse_Authentication"),
    ("verify-auth-challenge", "VerifyAuthChallengeResponse_Authentication"),
    ("migrateuser", "UserMigration_Authentication"),
    ("usermigration", "UserMigration_Authentication"),
    ("custommessage", "CustomMessage_SignUp"),
    ("customemailsender", "CustomEmailSender_SignUp"),
    ("customsmssender", "CustomSMSSender_SignUp"),
    ("inbound-federation", "InboundFederation_ExternalProvider"),
)
PLACEHOLDER_SOURCES = frozenset({"trigger_source", "testTrigger", "PreTokenGen", ""})


def source_for_file(name: str) -> str:
    lowered = name.lower()
    for fragment, source in SOURCE_BY_NAME:
        if fragment in lowered:
            return source
    raise LookupError(f"no trigger source known for {name}")


def reference_raw(name: str) -> dict[str, Any]:
    """A reference event exactly as published (a missing file is an error, never a skip)."""
    return load_json(REFERENCE_DIR / name)


def reference_named(name: str) -> dict[str, Any]:
    """A reference event by file name, its placeholder source filled in (reference_event)."""
    return reference_event(REFERENCE_DIR / name)


def reference_files() -> list[Path]:
    files = sorted(REFERENCE_DIR.glob("*.json"))
    if not files:
        # Parametrized tests would otherwise collect zero cases and pass without running.
        raise FileNotFoundError(f"no reference events in {REFERENCE_DIR} (see tests/events/README.md)")
    return files


def reference_event(path: Path) -> dict[str, Any]:
    """A reference event with its placeholder triggerSource replaced, deliberately and only that."""
    event = load_json(path)
    source = event.get("triggerSource")
    if not isinstance(source, str) or source in PLACEHOLDER_SOURCES:
        event["triggerSource"] = source_for_file(path.name)
    elif "/" in source:
        # aws-lambda-go's custom message file lists sources joined by "/" (copied from the docs).
        event["triggerSource"] = source.split("/")[0]
    return event


def invocation_outcomes(caplog: Any) -> list[str]:
    """The outcome of every trigger invocation logged so far: "ok", "rejected", "invalid", "error".

    Post confirmation answers as if all went well when onboarding crashed (the user is
    confirmed already: lambda_handler.ANSWER_DESPITE_ERRORS), so its answer alone cannot show
    a crash; the invocation's log line can. Needs caplog at INFO for gatehouse.triggers.
    """
    return [
        record.outcome
        for record in caplog.records
        if record.name == "gatehouse.triggers" and record.msg == "trigger invocation"
    ]


TRUSTED_SECRET = "t" * 40  # tests set settings.TRUSTED_BACKEND_SECRET to this


def signed_address(address: str, email: str) -> dict[str, str]:
    """ClientMetadata as a trusted backend sends it (accounts.trusted_source, docs/security.md)."""
    import time

    from accounts.trusted_source import address_signature

    timestamp = str(int(time.time()))
    signature = address_signature(secret=TRUSTED_SECRET, address=address, email=email, timestamp=timestamp)
    return {"ipAddress": address, "ipTimestamp": timestamp, "ipSignature": signature}
