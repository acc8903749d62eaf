"""Typed, lenient views of Cognito trigger events.

The wrapper keeps the raw dict and reads through it, so fields AWS adds later
pass through untouched (as Powertools' data classes do). Anything we rely on
that is missing or of the wrong type raises MalformedEvent, never KeyError.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triggers.errors import MalformedEvent

MAX_STRING = 2048  # longer attribute values are not ours to store or compare

# clientMetadata keys our front ends use for an invitation code (documented spelling first).
INVITATION_CODE_KEYS = ("invitationCode", "invitation_code")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{where} must be an object")
    return dict(value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    """Attributes and metadata: string values (Cognito sends "true" as a string).

    Booleans and numbers, seen in some published examples, are turned into strings;
    nested objects are refused.
    """
    result: dict[str, str] = {}
    for key, item in _mapping(value, where).items():
        if not isinstance(key, str):
            raise MalformedEvent(f"{where} keys must be strings")
        if item is None:
            continue
        if isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, (str, int, float)):
            text = str(item)
            if len(text) > MAX_STRING:
                raise MalformedEvent(f"{where}.{key} is too long")
            if "\x00" in text:
                # Postgres text cannot hold NUL: refuse here, not as a database error later.
                raise MalformedEvent(f"{where}.{key} contains a NUL character")
            result[key] = text
        else:
            raise MalformedEvent(f"{where}.{key} must be a string")
    return result


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def lenient_text(value: Any, *, limit: int) -> str:
    """Client-written free text (analytics): control characters dropped, cut to `limit`.

    Never raises: a value the client shaped badly must not abort what reads it.
    """
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, (str, int, float)):
        return ""
    return _CONTROL.sub("", str(value)[: limit * 4]).strip()[:limit]


def email_verified_in(attributes: Mapping[str, str]) -> bool:
    """Cognito's own `email_verified`: "true" once the user entered the code it mailed there."""
    return attributes.get("email_verified", "").lower() == "true"


def federated_in(attributes: Mapping[str, str]) -> bool:
    """A user of an identity provider, whose `email_verified` is the provider's mapping and
    proves nothing about the mailbox (issue 13, item 1)."""
    return bool(attributes.get("identities")) or attributes.get("cognito:user_status") == "EXTERNAL_PROVIDER"


def _string(value: Any, where: str, *, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise MalformedEvent(f"{where} must be a string")
    if len(value) > MAX_STRING:
        raise MalformedEvent(f"{where} is too long")
    if "\x00" in value:
        raise MalformedEvent(f"{where} contains a NUL character")
    return value


@dataclass(frozen=True, slots=True)
class CognitoEvent:
    raw: dict[str, Any]
    version: str
    trigger_source: str
    region: str
    user_pool_id: str
    user_name: str
    client_id: str
    request: dict[str, Any]

    @property
    def family(self) -> str:
        return self.trigger_source.partition("_")[0]

    @property
    def user_attributes(self) -> dict[str, str]:
        return _string_map(self.request.get("userAttributes"), "request.userAttributes")

    @property
    def client_metadata(self) -> dict[str, str]:
        return _string_map(self.request.get("clientMetadata"), "request.clientMetadata")

    @property
    def validation_data(self) -> dict[str, str]:
        return _string_map(self.request.get("validationData"), "request.validationData")

    @property
    def sub(self) -> str:
        return self.user_attributes.get("sub", "")

    @property
    def email(self) -> str:
        return self.user_attributes.get("email", "")

    @property
    def email_verified(self) -> bool:
        return email_verified_in(self.user_attributes)

    @property
    def federated(self) -> bool:
        return federated_in(self.user_attributes)

    def client_metadata_lenient(self, *keys: str, limit: int) -> str:
        """The first non-blank clientMetadata value among `keys`, read with lenient_text."""
        metadata = self.request.get("clientMetadata")
        if not isinstance(metadata, Mapping):
            return ""
        for key in keys:
            value = lenient_text(metadata.get(key), limit=limit)
            if value:
                return value
        return ""

    def client_metadata_value(self, *keys: str) -> str:
        """The first non-blank clientMetadata value among `keys` (clients spell keys differently)."""
        metadata = self.client_metadata
        for key in keys:
            value = metadata.get(key, "").strip()
            if value:
                return value
        return ""

    def request_string(self, key: str, default: str = "") -> str:
        return _string(self.request.get(key), f"request.{key}", default=default)

    def request_list(self, key: str) -> list[Any]:
        value = self.request.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise MalformedEvent(f"request.{key} must be a list")
        return value

    def respond(self, **fields: Any) -> dict[str, Any]:
        """The event back to Cognito with `response` filled (fields merged over what came in)."""
        answer = copy.copy(self.raw)
        existing = self.raw.get("response")
        response = dict(existing) if isinstance(existing, Mapping) else {}
        response.update(fields)
        answer["response"] = response
        return answer


def parse_event(event: Any) -> CognitoEvent:
    if not isinstance(event, Mapping):
        raise MalformedEvent("the event must be a JSON object")
    trigger_source = _string(event.get("triggerSource"), "triggerSource")
    if not trigger_source:
        raise MalformedEvent("triggerSource is missing")
    caller = _mapping(event.get("callerContext"), "callerContext")
    version = event.get("version")
    return CognitoEvent(
        raw=dict(event),
        version=str(version) if isinstance(version, (str, int)) else "1",
        trigger_source=trigger_source,
        region=_string(event.get("region"), "region"),
        user_pool_id=_string(event.get("userPoolId"), "userPoolId"),
        user_name=_string(event.get("userName"), "userName"),
        client_id=_string(caller.get("clientId"), "callerContext.clientId"),
        request=_mapping(event.get("request"), "request"),
    )
