"""Gatehouse's claims shaped for Cognito tokens: names, reserved claims, the byte budget, the cache.

Pre token generation runs on every sign-in and every refresh, so what it needs is read in
one query (tenants.selectors.token_claims_for) and kept in a per-container cache for
settings.CLAIMS_CACHE_SECONDS: a staff change (role, suspension, flag) shows in tokens
issued once the entry expires. A Lambda container serves one invocation at a time, so a
plain dict is enough; entries expire by time.monotonic().
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.conf import settings

from tenants.selectors import ClientClaims, TokenClaims, app_client_claims, token_claims_for

logger = logging.getLogger("gatehouse.triggers.claims")

COMPANY_ID = "custom:companyId"
COMPANY_NAME = "custom:companyName"
ROLE = "custom:role"
PERMISSIONS = "custom:permissions"
FEATURES = "custom:features"
SUBSCRIPTION_TIER = "custom:subscriptionTier"
THEME = "custom:theme"
LANGUAGE = "custom:language"
# The person's other companies, {"<company id>": "<role key>"}: what an app needs to offer a
# switch (tenants.memberships.active_company_switch); the next refresh carries the new one.
COMPANIES = "custom:companies"

# Every claim Gatehouse owns. One it does not add to an ID token is suppressed there, so a
# user-writable attribute of the same name (the guide stored custom:role as an attribute)
# can never reach a token in its place.
OWNED_CLAIMS: tuple[str, ...] = (
    COMPANY_ID,
    COMPANY_NAME,
    ROLE,
    PERMISSIONS,
    FEATURES,
    SUBSCRIPTION_TIER,
    THEME,
    LANGUAGE,
    COMPANIES,
)

# Over the byte budget, these go first to last. The company id and the role are never trimmed:
# without them a token is useless to the app. SCOPES stands for the access token's added scopes.
SCOPES = "(scopes)"
USER_TRIM_ORDER: tuple[str, ...] = (
    COMPANIES,
    FEATURES,
    PERMISSIONS,
    SCOPES,
    THEME,
    LANGUAGE,
    SUBSCRIPTION_TIER,
    COMPANY_NAME,
)
CLIENT_TRIM_ORDER: tuple[str, ...] = (COMPANY_NAME,)

# Claims Cognito does not let a trigger add or change (AWS Cognito developer guide, pre token
# generation: "claims that cannot be added or modified"), plus every cognito: and dev: claim.
RESERVED_CLAIMS = frozenset(
    {
        "acr",
        "amr",
        "aud",
        "at_hash",
        "auth_time",
        "azp",
        "cognito:username",
        "exp",
        "iat",
        "identities",
        "iss",
        "jti",
        "nbf",
        "nonce",
        "origin_jti",
        "sub",
        "token_use",
        "scope",
        "client_id",
        "username",
        "event_id",
        "device_key",
        "version",
    }
)
RESERVED_PREFIXES = ("dev:", "cognito:")


def is_reserved(name: str) -> bool:
    return name in RESERVED_CLAIMS or name.startswith(RESERVED_PREFIXES)


def without_reserved(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The claims minus any Cognito reserves: every claim Gatehouse sends passes through here."""
    dropped = [name for name in claims if is_reserved(name)]
    if dropped:
        logger.error("reserved claims dropped from a token", extra={"claims": sorted(dropped)})
    return {name: value for name, value in claims.items() if not is_reserved(name)}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def claims_size(claims: Mapping[str, Any], scopes: tuple[str, ...] = ()) -> int:
    """Bytes the claims (as compact JSON) and the added scopes (space separated) add to a token."""
    size = len(_compact(dict(claims)).encode())
    if scopes:
        size += len(" ".join(scopes).encode()) + 1
    return size


def fit_budget(
    claims: dict[str, str],
    scopes: tuple[str, ...],
    *,
    budget: int,
    trim_order: tuple[str, ...],
    company_id: int | None = None,
) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """Drop the least important claims until the rest fit; return (claims, scopes, trimmed)."""
    size = claims_size(claims, scopes)
    if size <= budget:
        return claims, scopes, ()
    claims = dict(claims)
    trimmed: list[str] = []
    for name in trim_order:
        if size <= budget:
            break
        if name == SCOPES:
            if scopes:
                scopes = ()
                trimmed.append(name)
        elif name in claims:
            del claims[name]
            trimmed.append(name)
        size = claims_size(claims, scopes)
    # Names and sizes only: no sub, email or claim value in the log.
    logger.warning(
        "token claims trimmed to fit the byte budget",
        extra={
            "trimmed": trimmed,
            "size_bytes": size,
            "budget_bytes": budget,
            "company_id": company_id,
            "over_budget": size > budget,
        },
    )
    return claims, scopes, tuple(trimmed)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What one token gets: claims to add, owned claims to suppress, groups and scopes.

    Shared by every invocation that hits the cache, so it is immutable; callers copy it
    into the response.
    """

    claims: Mapping[str, str]
    suppress: tuple[str, ...]
    groups: tuple[str, ...] | None  # None: leave Cognito's groups alone
    scopes: tuple[str, ...]
    trimmed: tuple[str, ...] = ()


def permission_scopes(permissions: tuple[str, ...]) -> tuple[str, ...]:
    """Permissions usable as OAuth scopes: all but wildcards, which no resource server understands."""
    return tuple(p for p in permissions if "*" not in p)


def user_grant_from(claims: TokenClaims, *, access_token: bool) -> TokenGrant:
    """Shape a user's claims; `access_token` is True for V2/V3 events, which also add scopes."""
    added: dict[str, str] = {}
    if claims.company_id is not None:
        added[COMPANY_ID] = str(claims.company_id)
        added[COMPANY_NAME] = claims.company_name
    if claims.elevated and claims.role:
        added[ROLE] = claims.role
    if claims.elevated:
        added[PERMISSIONS] = _compact(list(claims.permissions))
        added[FEATURES] = _compact(list(claims.features))
    if claims.found:
        added[SUBSCRIPTION_TIER] = claims.subscription_tier
    added[THEME] = claims.theme
    added[LANGUAGE] = claims.language
    if claims.other_companies:
        added[COMPANIES] = _compact({str(company): role for company, role in claims.other_companies})
    scopes = permission_scopes(claims.permissions) if (access_token and claims.elevated) else ()
    added, scopes, trimmed = fit_budget(
        without_reserved(added),
        scopes,
        budget=settings.CLAIMS_BYTE_BUDGET,
        trim_order=USER_TRIM_ORDER,
        company_id=claims.company_id,
    )
    # Gatehouse assigns groups from roles, so a user without an elevated role is in none.
    groups = (claims.group,) if (claims.elevated and claims.group) else ()
    return TokenGrant(
        claims=MappingProxyType(added),
        suppress=tuple(name for name in OWNED_CLAIMS if name not in added),
        groups=groups,
        scopes=scopes,
        trimmed=trimmed,
    )


def client_grant_from(client: ClientClaims | None) -> TokenGrant:
    """Shape a machine-to-machine token: nothing at all for an unknown or inactive client."""
    if client is None:
        return TokenGrant(claims=MappingProxyType({}), suppress=(), groups=None, scopes=())
    added: dict[str, str] = {}
    if client.company_id is not None:
        added[COMPANY_ID] = str(client.company_id)
        added[COMPANY_NAME] = client.company_name
    added, scopes, trimmed = fit_budget(
        without_reserved(added),
        client.scopes,
        budget=settings.CLAIMS_BYTE_BUDGET,
        trim_order=CLIENT_TRIM_ORDER,
        company_id=client.company_id,
    )
    return TokenGrant(
        claims=MappingProxyType(added), suppress=(), groups=None, scopes=scopes, trimmed=trimmed
    )


# --- The per-container cache ---------------------------------------------------------------

_MISSING = object()
MAX_ENTRIES = 10_000


class TtlCache:
    """A dict whose entries expire; bounded, dropping expired and then the oldest entries."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._max_entries = max_entries

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return _MISSING
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return _MISSING
        return entry[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        now = time.monotonic()
        if len(self._entries) >= self._max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            while len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + ttl, value)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_cache = TtlCache()


def user_grant(*, sub: str, access_token: bool) -> TokenGrant:
    """The grant for a user's tokens: at most one query, none while the cache holds it.

    A sub without a profile is not cached, so a profile created by the first sign-in
    (post authentication runs before token generation) shows at once.
    """
    key = ("user", sub, access_token)
    grant = _cache.get(key)
    if grant is _MISSING:
        claims = token_claims_for(sub=sub)
        grant = user_grant_from(claims, access_token=access_token)
        if claims.found:
            _cache.put(key, grant, settings.CLAIMS_CACHE_SECONDS)
    return grant  # type: ignore[no-any-return]


def client_grant(*, client_id: str) -> TokenGrant:
    """The grant for a client-credentials token, cached like a user's (unknown clients too)."""
    key = ("client", client_id)
    grant = _cache.get(key)
    if grant is _MISSING:
        grant = client_grant_from(app_client_claims(client_id=client_id))
        _cache.put(key, grant, settings.CLAIMS_CACHE_SECONDS)
    return grant  # type: ignore[no-any-return]


def claims_cache_clear() -> None:
    """Forget every cached grant (tests; a deploy starts new containers anyway)."""
    _cache.clear()
