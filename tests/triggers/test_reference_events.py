"""Every public reference event either reaches its family's handler or fails closed.

The events come from aws-lambda-go, aws-lambda-dotnet, Powertools and the AWS guide,
vendored in tests/events/reference/ (tests/events/README.md says where each came from).
Their placeholder trigger sources are replaced from the file name (tests/triggers/helpers.py),
nothing else is changed.
"""

from __future__ import annotations

import copy
import logging
import re

import pytest

from tests.triggers.helpers import (
    CAPTURED_DIR,
    REFERENCE_DIR,
    invocation_outcomes,
    load_json,
    reference_event,
    reference_files,
    source_for_file,
)
from triggers import registry
from triggers.errors import MalformedEvent, Rejection, UnknownTrigger
from triggers.lambda_handler import handler

# Families Gatehouse does not answer: a function wired to them must refuse, not wave through.
UNSUPPORTED = frozenset({"CustomEmailSender", "CustomSMSSender", "InboundFederation"})
SIGN_UP_FAMILIES = frozenset({"PreSignUp", "PostConfirmation"})

FILES = reference_files()
IDS = [path.name.removesuffix(".json") for path in FILES]


def family_of(event):
    return event["triggerSource"].partition("_")[0]


def test_the_vendored_files_are_the_ones_the_readme_lists():
    """tests/events/README.md is the record of where each file came from: keep it complete."""
    readme = (CAPTURED_DIR / "README.md").read_text()
    listed = re.findall(r"^\| (\S+\.json) \|", readme, flags=re.MULTILINE)
    assert sorted(listed) == [path.name for path in FILES]
    assert len(FILES) == 52


def test_the_reference_set_covers_both_sign_up_triggers():
    families = {family_of(reference_event(path)) for path in FILES}
    assert families >= SIGN_UP_FAMILIES
    assert len([p for p in FILES if family_of(reference_event(p)) in SIGN_UP_FAMILIES]) == 10


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_reference_event_reaches_a_family_or_fails_closed(path, open_policy, caplog):
    """Never an unexpected error (TemporaryFailure): a handler crash on a real shape is a bug."""
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    event = reference_event(path)
    family = family_of(event)

    if family in UNSUPPORTED or family not in registry.FAMILIES:
        with pytest.raises(UnknownTrigger):
            handler(event, None)
        return
    try:
        answer = handler(event, None)
    except (Rejection, MalformedEvent) as refusal:
        # The family's own deliberate answer to placeholder data (no such user, no password
        # in the event): reached and refused closed. A crash would be TemporaryFailure.
        assert str(refusal)  # noqa: PT017 - either outcome is fine; pytest.raises cannot say so
        return

    assert isinstance(answer, dict)
    assert isinstance(answer["response"], dict)
    assert answer["triggerSource"] == event["triggerSource"]
    # Post confirmation answers even when its work crashed: only the log line tells.
    assert invocation_outcomes(caplog) == ["ok"]


@pytest.mark.parametrize(
    "path", [p for p in FILES if source_for_file(p.name).partition("_")[0] in SIGN_UP_FAMILIES], ids=str
)
def test_sign_up_reference_events_are_accepted_as_they_are_apart_from_the_source(path, open_policy, caplog):
    from tenants.models import UserProfile

    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    raw = load_json(path)
    event = reference_event(path)
    assert {k: v for k, v in event.items() if k != "triggerSource"} == {
        k: v for k, v in raw.items() if k != "triggerSource"
    }

    answer = handler(event, None)

    if family_of(event) == "PreSignUp":
        assert answer["response"]["autoConfirmUser"] is False
        assert answer["response"]["autoVerifyEmail"] is False
    else:
        assert answer["response"] == {}
        # No published post-confirmation event carries the sub every real one has, so
        # onboarding is left to the first sign-in and nothing is written (the next test adds one).
        assert UserProfile.objects.count() == 0
    assert invocation_outcomes(caplog) == ["ok"]


# What each published post-confirmation event onboards once it has a sub: (username, email).
POST_CONFIRMATION_ONBOARDS = {
    "aws-lambda-dotnet__cognito-postconfirmation-event.json": ("username_uuid", ""),
    "aws-lambda-go__cognito-event-userpools-postconfirmation.json": ("<userName>", "<email>"),
    "awsdocs-cognito-guide-2023__user-pool-lambda-post-confirmation__testevent1.json": (
        "",
        "user@example.com",
    ),
    "powertools-python__cognitoPostConfirmationEvent.json": ("userName", "user@example.com"),
}


def test_every_post_confirmation_reference_event_is_in_the_onboarding_table():
    assert sorted(POST_CONFIRMATION_ONBOARDS) == [
        p.name for p in FILES if source_for_file(p.name).startswith("PostConfirmation")
    ]


@pytest.mark.parametrize("name", POST_CONFIRMATION_ONBOARDS)
def test_a_post_confirmation_reference_event_given_a_sub_onboards_its_user_once(name, open_policy, caplog):
    from tenants.models import ActivityEvent, UserProfile, Workspace

    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    event = reference_event(REFERENCE_DIR / name)
    # Deliberately added, like the source: the one field every real event has and these lack.
    event["request"]["userAttributes"]["sub"] = "7d8ca528-4931-4254-9273-ea5ee853f271"

    answers = [handler(copy.deepcopy(event), None) for _ in range(2)]  # the second: a Cognito retry

    assert [answer["response"] for answer in answers] == [{}, {}]
    assert invocation_outcomes(caplog) == ["ok", "ok"]
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.username, profile.email) == (
        "7d8ca528-4931-4254-9273-ea5ee853f271",
        *POST_CONFIRMATION_ONBOARDS[name],
    )
    assert (profile.company, profile.role) == (None, None)
    assert Workspace.objects.get().owner == profile
    assert list(ActivityEvent.objects.values_list("kind", "profile")) == [("sign_up", profile.pk)]


def test_placeholder_sources_are_not_accepted_as_they_are(db):
    dotnet = load_json(REFERENCE_DIR / "aws-lambda-dotnet__cognito-presignup-event.json")
    go_pretoken = load_json(REFERENCE_DIR / "aws-lambda-go__cognito-event-userpools-pretokengen.json")
    guide = load_json(
        REFERENCE_DIR / "awsdocs-cognito-guide-2023__user-pool-lambda-pre-sign-up__testevent1.json"
    )

    with pytest.raises(UnknownTrigger):
        handler(dotnet, None)  # "trigger_source": family "trigger"
    with pytest.raises(UnknownTrigger):
        handler(go_pretoken, None)  # "PreTokenGen" is not a real source
    with pytest.raises(MalformedEvent):
        handler(guide, None)  # no triggerSource at all


@pytest.mark.parametrize("path", sorted(CAPTURED_DIR.glob("*.json")), ids=lambda p: p.name)
def test_our_captured_events_are_accepted(path, open_policy, caplog):
    from tenants.models import UserProfile

    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    event = load_json(path)
    source = event["triggerSource"]

    answer = handler(event, None)

    if source in ("PreSignUp_SignUp", "PreSignUp_ExternalProvider"):
        assert answer["response"] == {
            "autoConfirmUser": False,
            "autoVerifyEmail": False,
            "autoVerifyPhone": False,
        }
    else:
        # AdminCreateUser ignores the flags and post confirmation answers nothing: as it came.
        assert answer["response"] == event["response"]
    onboarded = UserProfile.objects.filter(cognito_sub=event["request"]["userAttributes"].get("sub", "-"))
    assert onboarded.exists() is (source == "PostConfirmation_ConfirmSignUp")
    assert invocation_outcomes(caplog) == ["ok"]
