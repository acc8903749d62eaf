"""Idempotency-Key: a retried write answers what the first answered and does nothing again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.api.conftest import World, problem


def _create(client: Any, world: World, body: dict[str, Any], key: str = "key-1") -> Any:
    return client.post(
        f"/api/v1/companies/{world.acme.pk}/invitations",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retried_create_replays_the_first_answer_and_creates_nothing(world: World) -> None:
    from api.models import IdempotencyKey
    from invites.models import Invitation
    from tenants.models import AuditEvent

    client = world.client("inviter")
    body = {"email": "new@acme.com", "role_id": world.roles["USER"].pk, "send": False}

    first = _create(client, world, body)
    again = _create(client, world, body)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (first.get("Idempotent-Replayed"), again["Idempotent-Replayed"]) == (None, "true")
    assert (Invitation.objects.count(), AuditEvent.objects.count()) == (1, 1)
    # The answer holds the invitation code: it is kept sealed, never in the clear.
    assert first.json()["code"] not in IdempotencyKey.objects.get().sealed_body


def test_the_same_key_with_another_body_is_422(world: World) -> None:
    from invites.models import Invitation

    client = world.client("inviter")
    _create(client, world, {"email": "new@acme.com", "role_id": world.roles["USER"].pk, "send": False})

    response = _create(
        client, world, {"email": "other@acme.com", "role_id": world.roles["USER"].pk, "send": False}
    )

    assert (response.status_code, problem(response)["type"]) == (
        422,
        "urn:gatehouse:problem:idempotency-mismatch",
    )
    assert list(Invitation.objects.values_list("email", flat=True)) == ["new@acme.com"]


def test_a_duplicate_while_the_first_still_runs_is_409(world: World) -> None:
    from api.models import IdempotencyKey
    from invites.models import Invitation

    body = {"email": "new@acme.com", "role_id": world.roles["USER"].pk, "send": False}
    # The row the first request writes before its view runs, as it stands while it runs.
    route = f"POST /api/v1/companies/{world.acme.pk}/invitations"
    IdempotencyKey.objects.create(
        scope=f"{world.people['inviter'].cognito_sub}|app-client-web|{route}",
        key="key-1",
        request_hash=hashlib.sha256(json.dumps(body).encode()).hexdigest(),
    )

    response = _create(world.client("inviter"), world, body)

    assert (response.status_code, problem(response)["type"]) == (
        409,
        "urn:gatehouse:problem:idempotency-in-progress",
    )
    assert Invitation.objects.count() == 0


def test_keys_are_scoped_to_the_caller(world: World) -> None:
    from invites.models import Invitation

    _create(
        world.client("inviter"),
        world,
        {"email": "a@acme.com", "role_id": world.roles["USER"].pk, "send": False},
    )
    response = _create(
        world.client("manager"),
        world,
        {"email": "b@acme.com", "role_id": world.roles["USER"].pk, "send": False},
    )

    assert response.status_code == 201
    assert sorted(Invitation.objects.values_list("email", flat=True)) == ["a@acme.com", "b@acme.com"]


def test_a_malformed_key_is_a_field_error(world: World) -> None:
    response = _create(world.client("inviter"), world, {}, key="x" * 300)

    assert problem(response)["errors"] == [
        {"field": "Idempotency-Key", "message": "1 to 255 visible ASCII characters."}
    ]
