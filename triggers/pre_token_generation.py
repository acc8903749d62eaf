"""Pre token generation (every TokenGeneration_* source, event versions 1, 2 and 3).

Claims come from Gatehouse's records keyed by the user's `sub`, never from the user's
attributes or clientMetadata. One code path shapes them; only the response envelope
differs by version:

- V1_0 answers `claimsOverrideDetails` (ID token only);
- V2_0 and V3_0 answer `claimsAndScopeOverrideDetails` (ID and access token, scopes, groups);
- V3_0's TokenGeneration_ClientCredentials (no user) gets claims and scopes from AppClient.

Which envelope: a version of "2" or "3" (or "2.0"...) means V2; so does a version "1" event
that carries `request.scopes`, because only V2_0/V3_0 events describe the access token's
scopes (Powertools' published V2 fixture is labelled "1"). Anything else is V1.
"""

from __future__ import annotations

from typing import Any

from triggers.claims import TokenGrant, client_grant, user_grant
from triggers.events import CognitoEvent
from triggers.lambda_handler import handler_for

CLIENT_CREDENTIALS = "TokenGeneration_ClientCredentials"
V1_RESPONSE = "claimsOverrideDetails"
V2_RESPONSE = "claimsAndScopeOverrideDetails"


def answers_v2(event: CognitoEvent) -> bool:
    """True when Cognito expects claimsAndScopeOverrideDetails (see the module docstring)."""
    if event.trigger_source == CLIENT_CREDENTIALS:
        return True
    if event.version.partition(".")[0] in {"2", "3"}:
        return True
    return "scopes" in event.request


def handle(event: CognitoEvent) -> dict[str, Any]:
    if event.trigger_source == CLIENT_CREDENTIALS:
        return _respond(event, client_grant(client_id=event.client_id), v2=True, user=False)
    v2 = answers_v2(event)
    return _respond(event, user_grant(sub=event.sub, access_token=v2), v2=v2, user=True)


def _respond(event: CognitoEvent, grant: TokenGrant, *, v2: bool, user: bool) -> dict[str, Any]:
    claims = dict(grant.claims)
    groups = {"groupsToOverride": list(grant.groups)} if grant.groups is not None else None
    if not v2:
        details: dict[str, Any] = {"claimsToAddOrOverride": claims, "claimsToSuppress": list(grant.suppress)}
        if groups is not None:
            details["groupOverrideDetails"] = groups
        answer = event.respond(**{V1_RESPONSE: details})
        answer["response"].pop(V2_RESPONSE, None)
        return answer
    access: dict[str, Any] = {"claimsToAddOrOverride": dict(claims), "scopesToAdd": list(grant.scopes)}
    details = {"accessTokenGeneration": access}
    if user:
        # Client credentials issue no ID token; a user's ID token also gets the suppressions.
        details["idTokenGeneration"] = {
            "claimsToAddOrOverride": claims,
            "claimsToSuppress": list(grant.suppress),
        }
    if groups is not None:
        details["groupOverrideDetails"] = groups
    answer = event.respond(**{V2_RESPONSE: details})
    answer["response"].pop(V1_RESPONSE, None)
    return answer


handler = handler_for("TokenGeneration")
