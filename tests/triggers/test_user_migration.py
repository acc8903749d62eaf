"""User migration trigger: legacy users' first sign-in and forgotten password."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from functools import cache
from typing import Any

import argon2
import bcrypt
import pytest
from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    MD5PasswordHasher,
    PBKDF2PasswordHasher,
)
from django.utils import timezone

from invites.models import SignupRefusal
from tenants import legacy
from tenants.legacy_import import legacy_users_import
from tenants.models import LegacyHashCost, LegacyUser
from tests.tenants.legacy_csv import legacy_users_csv
from tests.triggers.helpers import make_event, reference_named
from triggers.errors import Rejection
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
EMAIL = "alice@acme.com"


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8192


@cache
def legacy_hashes(password: str = PASSWORD) -> dict[str, str]:
    """One hash per supported format, at low cost so the tests stay fast."""
    return {
        "pbkdf2_sha256": PBKDF2PasswordHasher().encode(password, "saltsaltsalt", iterations=1000),
        "argon2": CheapArgon2PasswordHasher().encode(password, "saltsaltsalt"),
        "bcrypt_sha256": BCryptSHA256PasswordHasher().encode(password, bcrypt.gensalt(4)),
        "bcrypt": BCryptPasswordHasher().encode(password, bcrypt.gensalt(4)),
        "raw_bcrypt_2b": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
        "raw_argon2id": argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(password),
        "salted_md5": MD5PasswordHasher().encode(password, "pepper"),
        "unsalted_md5_hex": hashlib.md5(password.encode()).hexdigest(),  # noqa: S324 (a legacy format)
        "unsalted_sha1_hex": hashlib.sha1(password.encode()).hexdigest(),  # noqa: S324
    }


def import_legacy(password_hash: str, *, email: str = EMAIL, **fields: str) -> LegacyUser:
    row = {"email": email, "given_name": "Alice", "family_name": "Example", "password_hash": password_hash}
    report = legacy_users_import(text=legacy_users_csv([row | fields]))
    assert report.ok, report.rows
    return LegacyUser.objects.get(email=email)


def migration_event(
    source: str, *, user_name: str = EMAIL, password: str | None = PASSWORD
) -> dict[str, Any]:
    event = make_event(source, email=None, user_name=user_name)
    event["request"] = {"validationData": {"app": "web"}}
    if password is not None:
        event["request"]["password"] = password
    return event


ATTRIBUTES = {"email": EMAIL, "email_verified": "true", "given_name": "Alice", "family_name": "Example"}


@pytest.mark.parametrize("fmt", sorted(legacy_hashes()))
def test_the_right_password_migrates_the_user(fmt: str) -> None:
    import_legacy(legacy_hashes()[fmt])

    response = handler(migration_event("UserMigration_Authentication"), None)["response"]

    # No company or role: post confirmation gives those from the legacy record.
    assert response == {
        "userAttributes": ATTRIBUTES,
        "finalUserStatus": "CONFIRMED",
        "messageAction": "SUPPRESS",
        "desiredDeliveryMediums": ["EMAIL"],
        "forceAliasCreation": False,
    }


@pytest.mark.parametrize("fmt", sorted(legacy_hashes()))
def test_a_wrong_password_is_a_bad_password(fmt: str) -> None:
    import_legacy(legacy_hashes()[fmt])

    with pytest.raises(Rejection) as refused:
        handler(migration_event("UserMigration_Authentication", password=PASSWORD + "!"), None)

    assert refused.value.public_message == "Bad password"
    assert refused.value.reason == "bad_password"
    assert LegacyUser.objects.get().migrated_at is None
    assert SignupRefusal.objects.count() == 0


@pytest.mark.parametrize("password", ["", None])
def test_an_empty_password_is_a_bad_password(password: str | None) -> None:
    import_legacy(legacy_hashes()["bcrypt"])

    with pytest.raises(Rejection, match="Bad password"):
        handler(migration_event("UserMigration_Authentication", password=password), None)


def test_a_password_over_bcrypts_72_bytes_is_wrong_not_a_crash() -> None:
    import_legacy(legacy_hashes()["raw_bcrypt_2b"])

    with pytest.raises(Rejection, match="Bad password"):
        handler(migration_event("UserMigration_Authentication", password="x" * 100), None)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password() -> None:
    with pytest.raises(Rejection) as refused:
        handler(migration_event("UserMigration_Authentication", user_name="nobody@acme.com"), None)

    # One message, so the sign-in form does not tell who has a legacy account.
    assert refused.value.public_message == "Bad password"
    assert refused.value.reason == "user_not_found"


def test_the_username_is_matched_without_case() -> None:
    import_legacy(legacy_hashes()["pbkdf2_sha256"])

    response = handler(migration_event("UserMigration_Authentication", user_name="Alice@ACME.com"), None)

    assert response["response"]["userAttributes"]["email"] == EMAIL


def test_a_migrated_record_is_spent() -> None:
    legacy = import_legacy(legacy_hashes()["pbkdf2_sha256"])
    LegacyUser.objects.filter(pk=legacy.pk).update(migrated_at=timezone.now())

    with pytest.raises(Rejection, match="Bad password"):
        handler(migration_event("UserMigration_Authentication"), None)


def test_forgotten_password_answers_the_attributes_without_a_password() -> None:
    import_legacy(legacy_hashes()["argon2"], given_name="", family_name="")

    response = handler(migration_event("UserMigration_ForgotPassword", password=None), None)["response"]

    assert response == {
        "userAttributes": {"email": EMAIL, "email_verified": "true"},
        "finalUserStatus": None,
        "messageAction": "SUPPRESS",
        "desiredDeliveryMediums": ["EMAIL"],
        "forceAliasCreation": False,
    }


def test_forgotten_password_of_an_unknown_user() -> None:
    with pytest.raises(Rejection) as refused:
        handler(migration_event("UserMigration_ForgotPassword", password=None), None)

    assert refused.value.public_message == "User not found"


def test_attempts_per_user_are_limited(settings: Any) -> None:
    settings.LEGACY_LOGIN_ATTEMPTS_PER_WINDOW = 2
    import_legacy(legacy_hashes()["pbkdf2_sha256"])
    for _ in range(2):
        with pytest.raises(Rejection, match="Bad password"):
            handler(migration_event("UserMigration_Authentication", password="guess"), None)

    with pytest.raises(Rejection) as refused:
        handler(migration_event("UserMigration_Authentication"), None)

    assert refused.value.public_message == "Too many attempts. Try again later"
    assert refused.value.reason == "rate_limited"
    # Another user is not affected.
    import_legacy(legacy_hashes()["pbkdf2_sha256"], email="bob@acme.com")
    assert handler(migration_event("UserMigration_Authentication", user_name="bob@acme.com"), None)


def test_neither_password_nor_hash_is_logged(caplog: Any) -> None:
    legacy = import_legacy(legacy_hashes()["pbkdf2_sha256"])

    with caplog.at_level(logging.DEBUG):
        handler(migration_event("UserMigration_Authentication"), None)
        with pytest.raises(Rejection):
            handler(migration_event("UserMigration_Authentication", password="wrong-guess-123"), None)

    for record in caplog.records:
        text = record.getMessage() + str(record.__dict__)
        assert PASSWORD not in text
        assert "wrong-guess-123" not in text
        assert legacy.password_hash not in text


def test_authentication_costs_two_queries(django_assert_num_queries: Any) -> None:
    import_legacy(legacy_hashes()["pbkdf2_sha256"])

    # The padding target, the attempt counter and the legacy record.
    with django_assert_num_queries(3):
        handler(migration_event("UserMigration_Authentication"), None)


def test_an_unknown_migration_source_fails_closed() -> None:
    from triggers.errors import UnknownTrigger

    import_legacy(legacy_hashes()["pbkdf2_sha256"])
    with pytest.raises(UnknownTrigger):
        handler(migration_event("UserMigration_SomethingNew"), None)


# --- The reference events ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "aws-lambda-dotnet__cognito-migrateuser-event.json",
        "aws-lambda-go__cognito-event-userpools-migrateuser.json",
        "powertools-python__cognitoUserMigrationEvent.json",
    ],
)
def test_reference_events_of_unknown_users_are_refused_cleanly(name: str) -> None:
    with pytest.raises(Rejection, match="Bad password"):
        handler(reference_named(name), None)


def test_a_reference_event_for_a_legacy_user_overrides_the_placeholder_response() -> None:
    import_legacy(legacy_hashes()["bcrypt_sha256"])
    event = reference_named("aws-lambda-dotnet__cognito-migrateuser-event.json")
    event["userName"] = EMAIL
    event["request"]["password"] = PASSWORD

    response = handler(event, None)["response"]

    # The file's "medium1"/"action"/"status"/true must not reach Cognito.
    assert response == {
        "userAttributes": ATTRIBUTES,
        "finalUserStatus": "CONFIRMED",
        "messageAction": "SUPPRESS",
        "desiredDeliveryMediums": ["EMAIL"],
        "forceAliasCreation": False,
    }


# --- Every answer takes as long as the slowest imported format (issue 13 item 9) ---------------


@pytest.fixture
def padding(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sleeps the padding asks for, with a clock that stands still: no timing in tests."""
    slept: list[float] = []
    monkeypatch.setattr(legacy, "clock", lambda: 100.0)
    monkeypatch.setattr(legacy, "sleep", slept.append)
    return slept


def test_an_import_stores_the_cost_of_its_slowest_format() -> None:
    slow = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=100_000)
    import_legacy(legacy_hashes()["salted_md5"], email="md5@example.com")
    import_legacy(slow)

    cost = LegacyHashCost.objects.get()

    assert (cost.pk, cost.slowest_format) == (1, "pbkdf2_sha256")
    assert cost.seconds > 0


@pytest.mark.parametrize(
    ("source", "user_name", "password"),
    [
        ("UserMigration_Authentication", EMAIL, PASSWORD),
        ("UserMigration_Authentication", EMAIL, PASSWORD + "!"),
        ("UserMigration_Authentication", "nobody@example.com", PASSWORD),
        ("UserMigration_ForgotPassword", EMAIL, None),
        ("UserMigration_ForgotPassword", "nobody@example.com", None),
    ],
)
def test_every_migration_answer_is_padded_to_the_stored_target(
    padding: list[float], source: str, user_name: str, password: str | None
) -> None:
    import_legacy(legacy_hashes()["bcrypt"])
    target = LegacyHashCost.objects.get().seconds

    with contextlib.suppress(Rejection):
        handler(migration_event(source, user_name=user_name, password=password), None)

    assert padding == [target]


def test_no_padding_before_any_import(padding: list[float]) -> None:
    with pytest.raises(Rejection):
        handler(migration_event("UserMigration_Authentication", user_name="nobody@example.com"), None)

    assert padding == []
