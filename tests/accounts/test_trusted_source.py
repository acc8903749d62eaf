"""The trusted-source mechanism (issue 13 items 6, 7, 8, 12), through the Lambda entry point."""

from __future__ import annotations

import time
from typing import Any

import pytest

from accounts.models import LoginCode
from accounts.trusted_source import address_signature, canonical_address, trusted_address
from invites.models import Invitation, SignupRefusal
from tenants.models import RateLimitCounter, Status, UserProfile
from tests.triggers.helpers import make_event
from triggers.errors import Rejection
from triggers.lambda_handler import handler, invoke

pytestmark = pytest.mark.django_db

SECRET = "s" * 40
SIGN_UP = "PreSignUp_SignUp"
SUB = "7a1b2c3d-0000-4000-8000-0000000000aa"


@pytest.fixture
def secret(settings: Any) -> str:
    settings.TRUSTED_BACKEND_SECRET = SECRET
    return SECRET


def signed(address: str, email: str, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """ClientMetadata as the app's backend sends it (the helper of docs/security.md)."""
    timestamp = str(at if at is not None else int(time.time()))
    return {
        "ipAddress": address,
        "ipTimestamp": timestamp,
        "ipSignature": address_signature(secret=secret, address=address, email=email, timestamp=timestamp),
    }


def refused(event: dict[str, Any]) -> Rejection:
    with pytest.raises(Rejection) as caught:
        invoke(event)
    return caught.value


# --- Item 6: which address counts ------------------------------------------------------------


def test_an_address_counts_only_with_a_fresh_signature_for_this_email(secret):
    good = signed("203.0.113.7", "alice@acme.com")
    assert trusted_address(metadata=good, email="Alice@Acme.com") == "203.0.113.7"
    assert trusted_address(metadata=good, email="bob@acme.com") == ""
    assert trusted_address(metadata={"ipAddress": "203.0.113.7"}, email="alice@acme.com") == ""
    stale = signed("203.0.113.7", "alice@acme.com", at=int(time.time()) - 301)
    assert trusted_address(metadata=stale, email="alice@acme.com") == ""
    forged = signed("203.0.113.7", "alice@acme.com", secret="x" * 40)
    assert trusted_address(metadata=forged, email="alice@acme.com") == ""
    assert trusted_address(metadata={**good, "ipSignature": "é" * 64}, email="alice@acme.com") == ""


def test_nothing_is_trusted_without_a_secret(settings):
    settings.TRUSTED_BACKEND_SECRET = ""
    assert trusted_address(metadata=signed("203.0.113.7", "a@acme.com"), email="a@acme.com") == ""


def test_addresses_are_canonical():
    assert canonical_address("2001:DB8::1") == canonical_address("2001:db8::ffff") == "2001:db8::/64"
    assert canonical_address("::ffff:203.0.113.7") == "203.0.113.7"
    assert canonical_address(" 203.0.113.7 ") == "203.0.113.7"
    assert canonical_address("not an address") == ""


def test_an_unsigned_address_is_ignored_and_the_per_email_limit_applies(open_policy, settings):
    settings.SIGNUPS_PER_EMAIL_PER_HOUR = 2
    for _ in range(2):
        invoke(make_event(SIGN_UP, email="bob@acme.com", metadata={"ipAddress": "203.0.113.7"}))

    error = refused(make_event(SIGN_UP, email="bob@acme.com", metadata={"ipAddress": f"198.51.100.{3}"}))

    assert error.public_message == "Too many sign-ups from your network. Please try again later"
    assert SignupRefusal.objects.get().reason == "rate_limited"
    assert set(RateLimitCounter.objects.values_list("scope", "count")) == {
        ("signup_email", 3),
        ("signup_untrusted", 2),
    }


def test_the_global_limit_holds_for_sign_ups_without_a_trusted_address(open_policy, settings):
    settings.UNTRUSTED_SIGNUPS_PER_HOUR = 1
    invoke(make_event(SIGN_UP, email="one@acme.com"))

    refused(make_event(SIGN_UP, email="two@acme.com"))

    assert SignupRefusal.objects.get().reason == "rate_limited"


def test_a_signed_address_is_counted_by_its_canonical_form(open_policy, secret):
    open_policy.signups_per_ip_per_hour = 1
    open_policy.save()
    invoke(make_event(SIGN_UP, email="a@acme.com", metadata=signed("2001:DB8::1", "a@acme.com")))

    refused(make_event(SIGN_UP, email="b@acme.com", metadata=signed("2001:db8::2", "b@acme.com")))

    assert RateLimitCounter.objects.get(scope="signup_ip").count == 2
    assert not RateLimitCounter.objects.filter(scope="signup_email").exists()


def test_refused_junk_does_not_use_up_the_quota_of_a_valid_sign_up(acme, invite, policy, secret):
    policy.signups_per_ip_per_hour = 1
    policy.save()
    issued = invite(acme, "alice@acme.com")
    for n in range(3):  # no invitation: refused before anything is counted
        refused(
            make_event(
                SIGN_UP, email=f"junk{n}@acme.com", metadata=signed("203.0.113.7", f"junk{n}@acme.com")
            )
        )
    assert not RateLimitCounter.objects.exists()

    metadata = {**signed("203.0.113.7", "alice@acme.com"), "invitationCode": issued.code}
    invoke(make_event(SIGN_UP, email="alice@acme.com", user_name="alice-1", metadata=metadata))

    issued.invitation.refresh_from_db()
    assert issued.invitation.reserved_for_username == "alice-1"


# --- Item 12: addresses outside ASCII ----------------------------------------------------------


def test_a_non_ascii_address_with_its_invitation_signs_up(acme, invite, policy):
    issued = invite(acme, "joerg@bücher.de")
    # A non-ASCII local part with someone else's code is a mismatch, not a crash.
    mismatch = refused(make_event(SIGN_UP, email="jörg@bücher.de", metadata={"invitationCode": issued.code}))
    assert mismatch.reason == "invitation_email_mismatch"

    answer = invoke(
        make_event(
            SIGN_UP, email="Joerg@Bücher.de", user_name="jorg", metadata={"invitationCode": issued.code}
        )
    )

    assert answer["response"]["autoConfirmUser"] is False
    issued.invitation.refresh_from_db()
    assert issued.invitation.reserved_for_username == "jorg"


def test_a_kelvin_sign_look_alike_does_not_match_the_invitation(acme, invite, policy):
    issued = invite(acme, "kate@acme.com")

    error = refused(
        make_event(
            SIGN_UP, email="\u212aate@acme.com", user_name="k", metadata={"invitationCode": issued.code}
        )
    )

    assert error.reason == "email_lookalike"
    assert SignupRefusal.objects.get().reason == "email_lookalike"
    assert Invitation.objects.get().reserved_for_username == ""


# --- Item 7: allowlist and suspension on every sign-in path -------------------------------------


def define(session: list[dict[str, Any]], metadata: dict[str, str] | None = None) -> dict[str, Any]:
    event = make_event("DefineAuthChallenge_Authentication", sub=SUB, user_name=SUB, metadata=metadata)
    event["request"].update(session=session, userNotFound=False)
    return handler(event, None)["response"]


ANSWERED = [{"challengeName": "CUSTOM_CHALLENGE", "challengeResult": True, "challengeMetadata": ""}]


@pytest.fixture
def allowlisted(acme, roles):
    acme.ip_allowlist = ["203.0.113.0/24"]
    acme.save()
    return UserProfile.objects.create(
        cognito_sub=SUB, username=SUB, email="alice@acme.com", company=acme, role=roles["USER"]
    )


def test_define_issues_tokens_only_from_a_signed_allowed_address(allowlisted, secret):
    assert define(ANSWERED, {"ipAddress": "203.0.113.7"})["issueTokens"] is False  # unsigned
    assert define(ANSWERED, signed("198.51.100.1", "alice@acme.com"))["failAuthentication"] is True
    assert define(ANSWERED, signed("203.0.113.7", "alice@acme.com"))["issueTokens"] is True


def test_define_still_challenges_before_the_answer_without_metadata(allowlisted, secret):
    assert define([]) == {
        "challengeName": "CUSTOM_CHALLENGE",
        "issueTokens": False,
        "failAuthentication": False,
    }


def test_pre_authentication_ignores_an_unsigned_address(allowlisted, secret):
    event = make_event("PreAuthentication_Authentication", sub=SUB, user_name=SUB)
    event["request"]["validationData"] = {"ipAddress": "203.0.113.7"}
    with pytest.raises(Rejection) as caught:
        invoke(event)
    assert caught.value.reason == "ip_not_allowed"

    event["request"]["validationData"] = signed("203.0.113.7", "alice@acme.com")
    assert invoke(event)["response"] == {}


def test_a_suspended_user_gets_no_tokens_from_define(allowlisted, secret):
    UserProfile.objects.filter(pk=allowlisted.pk).update(status=Status.SUSPENDED)
    assert define(ANSWERED, signed("203.0.113.7", "alice@acme.com"))["failAuthentication"] is True


def test_the_admin_warns_when_an_allowlist_has_no_trusted_backend(admin_client, acme, settings):
    from django.urls import reverse

    settings.TRUSTED_BACKEND_SECRET = ""
    acme.ip_allowlist = ["203.0.113.0/24"]
    acme.save()

    page = admin_client.get(reverse("admin:tenants_company_change", args=[acme.pk])).content.decode()

    assert "no TRUSTED_BACKEND_SECRET is configured" in page
    settings.TRUSTED_BACKEND_SECRET = SECRET
    page = admin_client.get(reverse("admin:tenants_company_change", args=[acme.pk])).content.decode()
    assert "no TRUSTED_BACKEND_SECRET is configured" not in page


# --- Item 8: no second code, a per-source cap ---------------------------------------------------


def create(session: list[dict[str, Any]]) -> dict[str, Any]:
    event = make_event("CreateAuthChallenge_Authentication", sub=SUB, user_name=SUB)
    event["request"].update(challengeName="CUSTOM_CHALLENGE", session=session, userNotFound=False)
    return handler(event, None)["response"]


def test_a_new_session_within_the_window_reuses_the_open_code_and_mails_nothing(
    aws, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = create([])
    with django_capture_on_commit_callbacks(execute=True):
        second = create([])  # a Cognito retry or a new InitiateAuth: the same

    assert second["privateChallengeParameters"] == first["privateChallengeParameters"]
    assert LoginCode.objects.count() == 1
    assert len(aws.ses_messages()) == 1
    assert RateLimitCounter.objects.get(scope="login_code").count == 1


def test_answers_from_one_source_are_capped_across_users(aws, secret, settings):
    settings.LOGIN_ANSWERS_PER_SOURCE_PER_WINDOW = 2
    challenge = create([])["privateChallengeParameters"]

    def verify(address: str) -> bool:
        event = make_event(
            "VerifyAuthChallengeResponse_Authentication",
            sub=SUB,
            user_name=SUB,
            metadata=signed(address, "alice@acme.com"),
        )
        event["request"].update(
            privateChallengeParameters=challenge, challengeAnswer="000000", userNotFound=False
        )
        return handler(event, None)["response"]["answerCorrect"]

    for _ in range(3):
        verify("203.0.113.7")

    assert RateLimitCounter.objects.get(scope="login_answer_source").count == 3
    assert LoginCode.objects.get().attempts == 2  # the third answer was never compared
