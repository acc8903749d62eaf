"""The tenant API's fixtures: a test RSA key, a JWKS served on 127.0.0.1, tokens minted with it.

Nothing of Gatehouse is mocked: the API fetches the key set over HTTP from the server below
exactly as it fetches Cognito's, and every company, person and membership is made through
the services.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

POOL = "us-east-1_TestPool1"
CLIENT_ID = "app-client-web"


@dataclass
class Jwks:
    """A JWKS endpoint under our control: the keys it serves and how often it was fetched."""

    base: str
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    fetches: int = 0

    @property
    def issuer(self) -> str:
        return f"{self.base}/{POOL}"

    def add_key(self, kid: str) -> Any:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def document(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[Jwks]:
    state = Jwks(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != f"/{POOL}/.well-known/jwks.json":
                self.send_error(404)
                return
            state.fetches += 1
            body = json.dumps(state.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    state.add_key("test-key-1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def jwks(jwks_server: Jwks, settings: Any) -> Iterator[Jwks]:
    """The issuer pointed at the test JWKS, with a fresh key cache and fetch count per test."""
    from api.tokens import jwks_forget

    settings.COGNITO_ISSUER = jwks_server.issuer
    jwks_forget()
    jwks_server.fetches = 0
    yield jwks_server
    jwks_forget()


Mint = Callable[..., str]


@pytest.fixture
def mint(jwks: Jwks) -> Mint:
    """A Cognito-shaped access token for `sub` (claims overridable, None drops one)."""

    def make(sub: str, *, kid: str = "test-key-1", key: Any = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": jwks.issuer,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
            "username": sub,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or jwks.keys[kid], algorithm="RS256", headers={"kid": kid})

    return make


@pytest.fixture
def app_client(db: None) -> Any:
    from tenants.models import AppClient

    return AppClient.objects.create(client_id=CLIENT_ID, name="Acme web app")


@dataclass
class World:
    """Two companies; in Acme an owner-administrator, a manager, an inviter and a plain user."""

    acme: Any
    globex: Any
    roles: dict[str, Any]
    people: dict[str, Any]
    members: dict[str, Any]
    mint: Mint

    def client(self, who: str, **claims: Any) -> Client:
        token = self.mint(self.people[who].cognito_sub, **claims)
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def make_person(email: str) -> Any:
    from tenants.models import UserProfile

    return UserProfile.objects.create(
        cognito_sub=f"sub-{email}", username=email, email=email, given_name=email.split("@")[0].title()
    )


@pytest.fixture
def world(db: None, roles: dict[str, Any], mint: Mint, app_client: Any) -> World:
    from tenants.memberships import membership_add
    from tenants.models import Company, Role

    acme = Company.objects.create(name="Acme", slug="acme", subscription_tier="pro", seat_limit=50)
    globex = Company.objects.create(name="Globex", slug="globex", seat_limit=50)
    all_roles = {
        **roles,
        "MANAGER": Role.objects.create(
            key="MANAGER",
            name="Manager",
            company=acme,
            permissions=["profile:read", "users:invite", "users:manage", "roles:read"],
        ),
    }
    people = {
        name: make_person(f"{name}@{company}.com")
        for name, company in [
            ("owner", "acme"),
            ("manager", "acme"),
            ("inviter", "acme"),
            ("plain", "acme"),
            ("rival", "globex"),
        ]
    }
    members = {
        "owner": membership_add(profile=people["owner"], company=acme, role=all_roles["SUPER_ADMIN"]),
        "manager": membership_add(profile=people["manager"], company=acme, role=all_roles["MANAGER"]),
        "inviter": membership_add(profile=people["inviter"], company=acme, role=all_roles["ADMIN"]),
        "plain": membership_add(profile=people["plain"], company=acme, role=all_roles["USER"]),
        "rival": membership_add(profile=people["rival"], company=globex, role=all_roles["SUPER_ADMIN"]),
    }
    for person in people.values():
        person.refresh_from_db()
    acme.refresh_from_db()
    globex.refresh_from_db()
    return World(acme=acme, globex=globex, roles=all_roles, people=people, members=members, mint=mint)


def problem(response: Any) -> dict[str, Any]:
    """The problem document of a refusal (asserting its media type)."""
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()
