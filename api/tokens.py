"""Bearer tokens: Cognito's RS256 JWTs, verified against the configured issuer's JWKS.

The one place a token is checked (api.main's auth calls `token_verify`). Only `sub`,
`client_id`/`aud` and `token_use` are used: what the caller may do is read from the database
(tenants.access), never from the token's claims, which are a snapshot up to its expiry.

- Access tokens: `token_use` "access" and `client_id` an active tenants.AppClient (access
  tokens carry no `aud`). ID tokens: `token_use` "id" and `aud` an active client that staff
  allowed ID tokens for.
- `iss` must equal settings.COGNITO_ISSUER; the keys come from `{iss}/.well-known/jwks.json`
  (never from a discovery document or a header of the token), RS256 only.
- The JWKS is fetched once and kept API_JWKS_LIFESPAN_SECONDS; an unknown `kid` forces at
  most one refresh per API_JWKS_REFRESH_COOLDOWN_SECONDS (PyJWKClient's cooldown), so forged
  key ids cannot make every request fetch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import jwt
from django.conf import settings

from tenants.access import app_client_for

ALGORITHMS = ["RS256"]
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use"]


class TokenRejected(Exception):
    """The bearer token is not one we accept. `reason` is stable; `message` safe to show."""

    def __init__(self, reason: str, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Principal:
    """Who the token says is calling: only what the API needs from it."""

    sub: str
    client_id: str
    client_name: str
    client_company_id: int | None
    token_use: str
    username: str


_lock = threading.Lock()
_clients: dict[tuple[str, int, int], jwt.PyJWKClient] = {}


def jwks_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/jwks.json"


def jwks_client(issuer: str) -> jwt.PyJWKClient:
    """One cached client per issuer (and cache settings) for the life of the process."""
    key = (issuer, settings.API_JWKS_LIFESPAN_SECONDS, settings.API_JWKS_REFRESH_COOLDOWN_SECONDS)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = jwt.PyJWKClient(
                jwks_url(issuer),
                cache_jwk_set=True,
                lifespan=settings.API_JWKS_LIFESPAN_SECONDS,
                cooldown_duration=settings.API_JWKS_REFRESH_COOLDOWN_SECONDS,
                timeout=settings.API_JWKS_TIMEOUT_SECONDS,
            )
            _clients[key] = client
        return client


def jwks_forget() -> None:
    """Drop the cached key sets (tests; a deploy that changes the issuer restarts anyway)."""
    with _lock:
        _clients.clear()


def _signing_key(issuer: str, token: str) -> jwt.PyJWK:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenRejected("malformed_token", "The bearer token is not a JWT.") from exc
    if header.get("alg") not in ALGORITHMS:
        raise TokenRejected("algorithm_refused", "Only RS256 tokens are accepted.")
    if not isinstance(header.get("kid"), str):
        raise TokenRejected("unknown_key", "The token names no signing key.")
    try:
        return jwks_client(issuer).get_signing_key(header["kid"])
    except jwt.PyJWKClientConnectionError as exc:
        raise TokenRejected(
            "keys_unavailable", "The signing keys could not be fetched; try again.", status=503
        ) from exc
    except jwt.PyJWKClientError as exc:
        raise TokenRejected("unknown_key", "The token's signing key is not the user pool's.") from exc


def token_verify(token: str) -> Principal:
    """Verify a bearer token and say whose it is and for which app client; raises TokenRejected."""
    issuer = settings.COGNITO_ISSUER
    if not issuer:
        raise TokenRejected("not_configured", "The API has no token issuer configured.", status=503)
    key = _signing_key(issuer, token)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=issuer,
            leeway=settings.API_JWT_LEEWAY_SECONDS,
            # `aud` is checked below: ID tokens have one, access tokens none.
            options={"require": REQUIRED_CLAIMS, "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected("token_expired", "The token has expired.") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejected("wrong_issuer", "The token was not issued by this user pool.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenRejected("invalid_token", "The token is not valid.") from exc
    use = claims.get("token_use")
    if use == "access":
        client_id = claims.get("client_id")
    elif use == "id":
        client_id = claims.get("aud")
    else:
        raise TokenRejected("wrong_token_use", "Use an access token (or an ID token where enabled).")
    client = app_client_for(client_id=client_id) if isinstance(client_id, str) else None
    if client is None or (use == "id" and not client.id_tokens_allowed):
        raise TokenRejected("client_not_allowed", "This app client may not call the API.")
    return Principal(
        sub=str(claims["sub"]),
        client_id=client.client_id,
        client_name=client.name,
        client_company_id=client.company_id,
        token_use=use,
        username=str(claims.get("username") or claims.get("cognito:username") or ""),
    )
