"""Which handler answers which trigger, written out by hand.

Keys are trigger families: the part of triggerSource before the first underscore,
matching Cognito's LambdaConfig keys. A new source inside a known family (AWS adds
them, e.g. TokenGeneration_ClientCredentials) reaches that family's handler; an
unknown family fails closed. Handlers are imported on first use so that a function
wired to one trigger loads only that module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Any

from triggers.errors import UnknownTrigger
from triggers.events import CognitoEvent

Handler = Callable[[CognitoEvent], dict[str, Any]]

FAMILIES: dict[str, str] = {
    "PreSignUp": "triggers.pre_sign_up",
    "PostConfirmation": "triggers.post_confirmation",
    "PreAuthentication": "triggers.authentication",
    "PostAuthentication": "triggers.authentication",
    "TokenGeneration": "triggers.pre_token_generation",
    "CustomMessage": "triggers.custom_message",
    "DefineAuthChallenge": "triggers.auth_challenge",
    "CreateAuthChallenge": "triggers.auth_challenge",
    "VerifyAuthChallengeResponse": "triggers.auth_challenge",
    "UserMigration": "triggers.user_migration",
}

# The function in each module that answers a family.
ENTRY_POINTS: dict[str, str] = {
    "PreSignUp": "handle",
    "PostConfirmation": "handle",
    "PreAuthentication": "handle_pre_authentication",
    "PostAuthentication": "handle_post_authentication",
    "TokenGeneration": "handle",
    "CustomMessage": "handle",
    "DefineAuthChallenge": "handle_define",
    "CreateAuthChallenge": "handle_create",
    "VerifyAuthChallengeResponse": "handle_verify",
    "UserMigration": "handle",
}


@cache
def handler_for_family(family: str) -> Handler:
    module_path = FAMILIES.get(family)
    if module_path is None:
        raise UnknownTrigger(f"no handler for trigger family {family!r}")
    handler: Handler = getattr(import_module(module_path), ENTRY_POINTS[family])
    return handler


def resolve(trigger_source: str) -> Handler:
    return handler_for_family(trigger_source.partition("_")[0])
