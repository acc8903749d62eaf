"""Authentication: which bearer tokens the API accepts, and how often it fetches the keys."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from django.test import Client

from tests.api.conftest import CLIENT_ID, Jwks, Mint, World, problem


def _get(token: str) -> Any:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me")


def test_a_valid_access_token_of_an_allowed_client_is_accepted(world: World) -> None:
    response = world.client("owner").get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["profile"]["email"] == "owner@acme.com"


def test_no_token_is_401_with_a_bearer_challenge(world: World) -> None:
    response = Client().get("/api/v1/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert problem(response)["type"] == "urn:gatehouse:problem:unauthenticated"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "token_expired"),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "wrong_issuer"),
        ({"token_use": "refresh"}, "wrong_token_use"),
        ({"client_id": "someone-elses-client"}, "client_not_allowed"),
        ({"exp": None}, "invalid_token"),
    ],
)
def test_tokens_that_are_not_ours_are_refused(world: World, claims: dict[str, Any], reason: str) -> None:
    response = world.client("owner", **claims).get("/api/v1/me")

    assert response.status_code == 401
    body = problem(response)
    assert (body["type"], body["reason"]) == ("urn:gatehouse:problem:invalid-token", reason)
    assert "Traceback" not in response.content.decode()


def test_an_expiry_within_the_leeway_still_passes(world: World) -> None:
    response = world.client("owner", exp=int(time.time()) - 5).get("/api/v1/me")

    assert response.status_code == 200


def test_a_token_signed_with_another_key_is_refused(world: World, mint: Mint) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = mint(world.people["owner"].cognito_sub, key=forged)

    response = _get(token)

    assert (response.status_code, problem(response)["reason"]) == (401, "invalid_token")


def test_only_rs256_is_accepted(world: World, jwks: Jwks) -> None:
    token = jwt.encode(
        {"sub": world.people["owner"].cognito_sub, "iss": jwks.issuer, "token_use": "access"},
        "a-shared-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
        headers={"kid": "test-key-1"},
    )

    response = _get(token)

    assert (response.status_code, problem(response)["reason"]) == (401, "algorithm_refused")


def test_an_id_token_is_refused_unless_staff_enabled_it_for_the_client(world: World, app_client: Any) -> None:
    id_claims = {"token_use": "id", "client_id": None, "aud": CLIENT_ID}

    refused = world.client("owner", **id_claims).get("/api/v1/me")
    app_client.id_tokens_allowed = True
    app_client.save()
    accepted = world.client("owner", **id_claims).get("/api/v1/me")

    assert (refused.status_code, problem(refused)["reason"]) == (401, "client_not_allowed")
    assert accepted.status_code == 200


def test_a_client_staff_switched_off_is_refused_at_once(world: World, app_client: Any) -> None:
    client = world.client("owner")
    assert client.get("/api/v1/me").status_code == 200

    app_client.is_active = False
    app_client.save()
    response = client.get("/api/v1/me")

    assert (response.status_code, problem(response)["reason"]) == (401, "client_not_allowed")


def test_the_key_set_is_fetched_once_and_then_served_from_the_cache(world: World, jwks: Jwks) -> None:
    client = world.client("owner")

    statuses = [client.get("/api/v1/me").status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert jwks.fetches == 1


def test_unknown_key_ids_cause_at_most_one_refresh_a_minute(world: World, jwks: Jwks, mint: Mint) -> None:
    assert world.client("owner").get("/api/v1/me").status_code == 200
    sub = world.people["owner"].cognito_sub

    statuses = [_get(mint(sub, kid=f"forged-{n}", key=jwks.keys["test-key-1"])).status_code for n in range(5)]

    assert statuses == [401] * 5
    # The first fetch started the cooldown: no forged kid made the API fetch again.
    assert jwks.fetches == 1


def test_a_rotated_key_is_picked_up_after_the_cooldown(
    world: World, jwks: Jwks, mint: Mint, settings: Any
) -> None:
    settings.API_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    from api.tokens import jwks_forget

    jwks_forget()
    assert world.client("owner").get("/api/v1/me").status_code == 200
    jwks.add_key("test-key-2")
    try:
        response = _get(mint(world.people["owner"].cognito_sub, kid="test-key-2"))
    finally:
        del jwks.keys["test-key-2"]

    assert response.status_code == 200
    assert jwks.fetches == 2


def test_keys_that_cannot_be_fetched_are_503_not_a_traceback(world: World, settings: Any) -> None:
    from tests.conftest import free_port

    settings.COGNITO_ISSUER = f"http://127.0.0.1:{free_port()}/us-east-1_Gone"
    response = world.client("owner", iss=settings.COGNITO_ISSUER).get("/api/v1/me")

    assert (response.status_code, problem(response)["type"]) == (
        503,
        "urn:gatehouse:problem:keys-unavailable",
    )
