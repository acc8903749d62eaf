"""The adapter: dispatch, fail-closed families, malformed events, the error policy, logs, connections."""

from __future__ import annotations

import contextlib
import json
import logging

import pytest
from django.db import connection, connections

from accounts.onboarding import profile_onboard
from backoffice.logging import JsonFormatter
from invites.models import SignupPolicy, SignupRefusal
from tenants.models import UserProfile
from tests.conftest import free_port
from tests.triggers.helpers import make_event
from triggers import registry
from triggers.errors import MalformedEvent, Rejection, TemporaryFailure, UnknownTrigger
from triggers.lambda_handler import handler, scrub

SIGN_UP = "PreSignUp_SignUp"
CONFIRM = "PostConfirmation_ConfirmSignUp"


def invocation_lines(caplog):
    return [r for r in caplog.records if r.name == "gatehouse.triggers" and r.msg == "trigger invocation"]


def as_json(record):
    return json.loads(JsonFormatter().format(record))


# --- Dispatch --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "CustomEmailSender_SignUp",
        "CustomSMSSender_SignUp",
        "InboundFederation_ExternalProvider",
        "PreTokenGen",
        "Nonsense",
        "presignup_SignUp",  # families are case-sensitive, like Cognito's sources
    ],
)
def test_an_unknown_family_fails_closed(db, source):
    with pytest.raises(UnknownTrigger) as caught:
        handler(make_event(source), None)
    assert str(caught.value) == "This sign-in step is not supported"
    assert SignupRefusal.objects.count() == 0


def test_a_new_source_in_a_known_family_reaches_the_family_handler(open_policy, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    answer = handler(make_event("PostConfirmation_SomethingAwsAddsLater", sub="s-new"), None)

    assert answer["response"] == {}
    assert [line.outcome for line in invocation_lines(caplog)] == ["ok"]
    assert UserProfile.objects.get().cognito_sub == "s-new"


def test_every_registered_family_has_an_entry_point():
    assert set(registry.FAMILIES) == set(registry.ENTRY_POINTS)
    assert all(module.startswith("triggers.") for module in registry.FAMILIES.values())


def test_the_answer_is_the_event_with_its_response_filled_and_unknown_fields_kept(open_policy):
    event = make_event(SIGN_UP, response={"autoConfirmUser": None, "somethingNew": 1})
    event["fieldAwsAddsLater"] = {"x": [1, 2]}
    event["request"]["newRequestField"] = "kept"

    answer = handler(event, None)

    assert answer["fieldAwsAddsLater"] == {"x": [1, 2]}
    assert answer["request"]["newRequestField"] == "kept"
    assert answer["response"] == {
        "autoConfirmUser": False,
        "autoVerifyEmail": False,
        "autoVerifyPhone": False,
        "somethingNew": 1,
    }
    assert event["response"] == {"autoConfirmUser": None, "somethingNew": 1}  # input left untouched


# --- Malformed events ---------------------------------------------------------------------------


def _with(path, value):
    event = make_event(SIGN_UP)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


def _without(key):
    event = make_event(SIGN_UP)
    del event[key]
    return event


MALFORMED = {
    "a list": [make_event(SIGN_UP)],
    "a string": json.dumps(make_event(SIGN_UP)),
    "None": None,
    "a number": 42,
    "no triggerSource": _without("triggerSource"),
    "empty triggerSource": _with(["triggerSource"], ""),
    "triggerSource not a string": _with(["triggerSource"], ["PreSignUp_SignUp"]),
    "request a list": _with(["request"], []),
    "request a string": _with(["request"], "userAttributes"),
    "callerContext a string": _with(["callerContext"], "x"),
    "userName a number": _with(["userName"], 12),
    "userPoolId an object": _with(["userPoolId"], {}),
    "userAttributes a list": _with(["request", "userAttributes"], [["email", "a@acme.com"]]),
    "an attribute an object": _with(["request", "userAttributes", "email"], {"value": "a@acme.com"}),
    "an attribute a list": _with(["request", "userAttributes", "custom:employeeId"], ["E1"]),
    "clientMetadata a string": _with(["request", "clientMetadata"], "invitationCode=X"),
    "a metadata value an object": _with(["request", "clientMetadata"], {"invitationCode": {"$ne": ""}}),
    "an attribute too long": _with(["request", "userAttributes", "given_name"], "x" * 5000),
}


@pytest.mark.parametrize("event", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_event_gets_our_error_never_a_key_or_type_error(open_policy, event):
    with pytest.raises(MalformedEvent) as caught:
        handler(event, None)
    assert str(caught.value) == "Invalid request"
    assert SignupRefusal.objects.count() == 0


def test_malformed_attributes_in_post_confirmation_are_answered_not_onboarded(open_policy):
    # The user is confirmed already: the answer cannot stop them, the first sign-in onboards.
    event = make_event(CONFIRM)
    event["request"]["userAttributes"]["email"] = ["a@acme.com", "b@acme.com"]
    assert handler(event, None)["response"] == {}
    assert UserProfile.objects.count() == 0


def test_booleans_and_numbers_in_attributes_are_read_as_cognito_strings(open_policy, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    event = make_event(CONFIRM, sub="s-1")
    event["request"]["userAttributes"]["email_verified"] = True
    event["request"]["userAttributes"]["custom:age"] = 42
    event["request"]["userAttributes"]["given_name"] = 1234  # reaches the profile as "1234"

    assert handler(event, None)["response"] == {}

    # The answer is {} even when onboarding crashed: the log line and the rows tell.
    (line,) = invocation_lines(caplog)
    assert line.outcome == "ok"
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.email, profile.given_name) == ("s-1", "alice@acme.com", "1234")


# --- The error policy -----------------------------------------------------------------------------


def test_a_rejection_is_user_safe_and_recorded_with_its_internal_reason(policy, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    event = make_event(SIGN_UP, email="bob@example.org", metadata={"invitationCode": "ABCD-EFGH-JKMN-PQRS"})

    with pytest.raises(Rejection) as caught:
        handler(event, None)

    # Cognito shows str(exception): "PreSignUp failed with error <message>."
    assert str(caught.value) == "This invitation code is not valid"
    refusal = SignupRefusal.objects.get()
    assert (refusal.reason, refusal.email, refusal.trigger_source) == (
        "invitation_unknown",
        "bob@example.org",
        SIGN_UP,
    )
    (line,) = invocation_lines(caplog)
    assert (line.outcome, line.reason) == ("rejected", "invitation_unknown")


def test_an_unexpected_error_becomes_a_generic_temporary_failure(policy, caplog):
    # A broken pattern saved past the admin's validation: our fault, not the user's.
    SignupPolicy.objects.filter(pk=1).update(employee_id_pattern="E(\\d")
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")

    with pytest.raises(TemporaryFailure) as caught:
        handler(make_event(SIGN_UP, email="bob@example.org", attributes={"custom:employeeId": "E1"}), None)

    assert str(caught.value) == "Sign-in is temporarily unavailable. Please try again"
    assert SignupRefusal.objects.count() == 0
    (line,) = invocation_lines(caplog)
    assert line.levelname == "ERROR"
    assert line.outcome == "error"
    assert "Traceback" in line.traceback
    assert "bob@example.org" not in JsonFormatter().format(line)


def test_a_registered_family_whose_module_is_missing_fails_closed(db, monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "PreSignUp", "triggers.module_that_does_not_exist")
    with pytest.raises(TemporaryFailure):
        handler(make_event(SIGN_UP), None)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_post_confirmation_still_answers_and_sign_up_fails_closed(
    open_policy, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    confirm = make_event(CONFIRM, sub="s-down", user_name="alice", email="alice@acme.com")
    with monkeypatch.context() as down:
        connection.close()
        down.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        down.setitem(connection.settings_dict, "PORT", str(free_port()))  # nothing listens

        answer = handler(confirm, None)
        with pytest.raises(TemporaryFailure):
            handler(make_event(SIGN_UP), None)
    connection.close()

    # The confirmation worked in Cognito: the user sees no error; onboarding waits for sign-in.
    assert answer["response"] == {}
    confirm_line, sign_up_line = invocation_lines(caplog)
    assert (confirm_line.outcome, confirm_line.reason, confirm_line.answered) == (
        "error",
        "OperationalError",
        True,
    )
    assert "alice@acme.com" not in JsonFormatter().format(confirm_line)
    assert sign_up_line.outcome == "error"
    assert UserProfile.objects.count() == 0
    # The first sign-in runs the same onboarding (other triggers call it when no profile exists).
    profile_onboard(
        email_verified=True,
        sub="s-down",
        username="alice",
        email="alice@acme.com",
        user_pool_id="us-east-1_TESTPOOL",
    )
    assert UserProfile.objects.get().username == "alice"


# --- One log line per invocation --------------------------------------------------------------------


def test_one_json_line_per_invocation_without_personal_data(acme, invite, policy, caplog):
    caplog.set_level(logging.DEBUG)
    issued = invite(acme, "alice@acme.com")
    events = [
        make_event(SIGN_UP, email="alice@acme.com", metadata={"invitationCode": issued.code}),  # ok
        make_event(SIGN_UP, email="alice@acme.com", metadata={"invitationCode": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}),
        make_event("Nonsense_Source", email="alice@acme.com"),  # invalid
    ]
    for event in events:
        with contextlib.suppress(Rejection, UnknownTrigger):
            handler(event, None)

    lines = [as_json(record) for record in invocation_lines(caplog)]
    assert [line["outcome"] for line in lines] == ["ok", "rejected", "invalid"]
    for line in lines:
        assert {"trigger_source", "user_pool_id", "outcome", "duration_ms"} <= set(line)
        assert line["user_pool_id"] == "us-east-1_TESTPOOL"
        assert isinstance(line["duration_ms"], float)
    assert [line["trigger_source"] for line in lines] == [SIGN_UP, SIGN_UP, "Nonsense_Source"]
    everything = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "alice@acme.com" not in everything
    assert issued.code not in everything
    assert "ZZZZ-ZZZZ-ZZZZ-ZZZZ" not in everything


def test_scrub_masks_emails_and_codes():
    assert scrub("Key (email)=(Alice.B+x@acme.com) code ABCD-EFGH-JKMN-PQRS") == (
        "Key (email)=(***@acme.com) code [code]"
    )


# --- Connections across a Lambda freeze ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_while_frozen_is_replaced_on_the_next_invocation(open_policy, settings):
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    handler(make_event(SIGN_UP), None)
    assert connection.connection is not None  # kept for the next invocation
    stale_pid = connection.connection.info.backend_pid

    # The freeze: the server (or RDS Proxy, or an idle timeout) drops the backend meanwhile.
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [stale_pid])
            assert cursor.fetchone() == (True,)
    finally:
        killer.close()

    answer = handler(make_event(SIGN_UP), None)

    assert answer["response"]["autoConfirmUser"] is False
    assert connection.connection.info.backend_pid != stale_pid


def test_connect_and_statement_timeouts_are_configured(db):
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("3s",)


def test_timeouts_follow_the_environment_and_move_to_the_role_behind_a_proxy(monkeypatch, tmp_path):
    import environ

    from backoffice.database import database_config

    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/gate")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    direct = database_config(environ.Env(), tmp_path)
    monkeypatch.setenv("DB_BEHIND_PROXY", "true")
    proxied = database_config(environ.Env(), tmp_path)

    assert direct["OPTIONS"]["connect_timeout"] == 1
    assert direct["OPTIONS"]["options"] == "-c statement_timeout=1500"
    assert "options" not in proxied["OPTIONS"]  # set with ALTER ROLE instead (RDS Proxy pins on SET)
