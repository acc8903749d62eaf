"""Invitations: list, create (the code answered once), resend, revoke, extend."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.utils import timezone

from tests.api.conftest import World, problem


def _url(world: World, tail: str = "") -> str:
    return f"/api/v1/companies/{world.acme.pk}/invitations{tail}"


def _post(client: Any, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def test_create_answers_the_code_once_and_the_list_never_does(world: World) -> None:
    from invites.models import Invitation
    from invites.services import invitation_code_hash
    from tenants.models import AuditEvent

    client = world.client("inviter")

    created = _post(
        client, _url(world), {"email": " New@Acme.com ", "role_id": world.roles["USER"].pk, "send": False}
    )
    listed = client.get(_url(world))

    assert created.status_code == 201
    body = created.json()
    invitation = Invitation.objects.get()
    assert body["invitation"]["id"] == invitation.pk
    assert (body["invitation"]["email"], body["invitation"]["role"]) == ("new@acme.com", "USER")
    assert invitation.code_hash == invitation_code_hash(body["code"])
    assert body["code"] not in listed.content.decode()
    assert [i["email"] for i in listed.json()["items"]] == ["new@acme.com"]
    event = AuditEvent.objects.get()
    assert (event.action, event.object_id, event.after["role"]) == (
        "invitation.create",
        str(invitation.pk),
        "USER",
    )
    assert "new@acme.com" not in json.dumps([event.before, event.after])


def test_a_plain_user_is_refused_the_invite_endpoint(world: World) -> None:
    from invites.models import Invitation

    response = _post(
        world.client("plain"), _url(world), {"email": "x@acme.com", "role_id": world.roles["USER"].pk}
    )

    body = problem(response)
    assert (response.status_code, body["type"]) == (403, "urn:gatehouse:problem:permission-missing")
    assert body["detail"] == "Your role does not grant users:invite."
    assert Invitation.objects.count() == 0


def test_an_inviter_cannot_invite_to_a_role_carrying_more_than_theirs(world: World) -> None:
    from invites.models import Invitation

    response = _post(
        world.client("inviter"), _url(world), {"email": "x@acme.com", "role_id": world.roles["MANAGER"].pk}
    )

    assert response.status_code == 422
    assert problem(response)["errors"] == [
        {
            "field": "role",
            "message": "You cannot grant the role MANAGER: it carries permissions you do not hold.",
        }
    ]
    assert Invitation.objects.count() == 0


def test_bad_input_answers_field_errors(world: World) -> None:
    response = _post(world.client("inviter"), _url(world), {"email": "not-an-email", "role_id": "x"})

    body = problem(response)
    assert response.status_code == 422
    assert [error["field"] for error in body["errors"]] == ["role_id"]


def test_the_domain_validation_answers_field_errors_too(world: World) -> None:
    response = _post(
        world.client("inviter"), _url(world), {"email": "not-an-email", "role_id": world.roles["USER"].pk}
    )

    assert response.status_code == 422
    assert problem(response)["errors"] == [{"field": "email", "message": "Enter a valid email address."}]


def test_resend_issues_a_new_code_by_email_and_answers_none(world: World, invite: Any) -> None:
    from invites.models import Invitation

    issued = invite(world.acme, email="new@acme.com")
    old_hash = issued.invitation.code_hash

    response = _post(world.client("inviter"), _url(world, f"/{issued.invitation.pk}/resend"))

    assert response.status_code == 200
    assert "code" not in response.json()
    invitation = Invitation.objects.get()
    assert (invitation.times_sent, invitation.code_hash != old_hash) == (1, True)


def test_revoke_then_extend_is_a_conflict(world: World, invite: Any) -> None:
    issued = invite(world.acme, email="new@acme.com")
    client = world.client("inviter")

    revoked = _post(client, _url(world, f"/{issued.invitation.pk}/revoke"))
    again = _post(client, _url(world, f"/{issued.invitation.pk}/revoke"))
    extended = _post(client, _url(world, f"/{issued.invitation.pk}/extend"), {"days": 3})

    assert (revoked.json(), again.json()) == ({"changed": True}, {"changed": False})
    assert (extended.status_code, problem(extended)["type"]) == (409, "urn:gatehouse:problem:conflict")
    assert client.get(_url(world), {"status": "revoked"}).json()["count"] == 1


def test_extend_moves_the_expiry(world: World, invite: Any) -> None:
    issued = invite(world.acme, email="new@acme.com")
    before = timezone.now()

    response = _post(world.client("inviter"), _url(world, f"/{issued.invitation.pk}/extend"), {"days": 30})

    issued.invitation.refresh_from_db()
    assert response.status_code == 200
    assert before + timedelta(days=30) <= issued.invitation.expires_at <= timezone.now() + timedelta(days=30)


def _bulk(world: World, who: str, **body: Any) -> Any:
    return _post(world.client(who), _url(world, "/bulk"), {"send": False, **body})


def test_bulk_dry_run_checks_every_line_and_writes_nothing(world: World) -> None:
    from invites.models import Invitation

    response = _bulk(
        world, "inviter", text="email,role\na@acme.com,USER\nb@acme.com,MANAGER\nnot-an-email,USER"
    )

    body = response.json()
    assert (response.status_code, body["written"], body["issued"]) == (200, False, [])
    assert [(r["line"], r["email"], bool(r["error"])) for r in body["rows"]] == [
        (2, "a@acme.com", False),
        (3, "b@acme.com", True),
        (4, "not-an-email", True),
    ]
    assert "You cannot grant the role MANAGER" in body["rows"][1]["error"]
    assert Invitation.objects.count() == 0


def test_bulk_all_or_none_writes_nothing_when_a_line_is_bad(world: World) -> None:
    from invites.models import Invitation

    body = _bulk(world, "inviter", text="a@acme.com,USER\nb@acme.com,MANAGER", dry_run=False).json()

    assert (body["written"], Invitation.objects.count()) == (False, 0)


def test_bulk_creates_the_good_lines_answers_their_codes_once_and_records_each(world: World) -> None:
    from invites.models import Invitation
    from invites.services import invitation_code_hash
    from tenants.models import AuditEvent

    body = _bulk(
        world,
        "inviter",
        text="a@acme.com\nb@acme.com,ADMIN",
        default_role_id=world.roles["USER"].pk,
        dry_run=False,
    ).json()

    assert body["written"] is True
    issued = {i["invitation"]["email"]: i for i in body["issued"]}
    assert sorted((e, i["invitation"]["role"]) for e, i in issued.items()) == [
        ("a@acme.com", "USER"),
        ("b@acme.com", "ADMIN"),
    ]
    for email, item in issued.items():
        assert Invitation.objects.get(email=email).code_hash == invitation_code_hash(item["code"])
    assert sorted(AuditEvent.objects.values_list("action", "after__role")) == [
        ("invitation.create", "ADMIN"),
        ("invitation.create", "USER"),
    ]
