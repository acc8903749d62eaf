"""Pre sign-up: every rule, every message, each triggerSource, and what is recorded for staff."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from invites.models import Invitation, RefusalReason, SignupPolicy, SignupRefusal
from invites.services import invitation_accept, invitation_code_generate
from tenants.models import Company, CompanyDomain, RateLimitCounter, UserProfile
from tests.triggers.helpers import PRE_SIGN_UP_SOURCES, TRUSTED_SECRET, make_event, signed_address
from triggers.errors import Rejection
from triggers.lambda_handler import invoke

pytestmark = pytest.mark.django_db

SIGN_UP = "PreSignUp_SignUp"
ADMIN = "PreSignUp_AdminCreateUser"
FEDERATED = "PreSignUp_ExternalProvider"


def refused(event):
    with pytest.raises(Rejection) as caught:
        invoke(event)
    return caught.value


def only_refusal():
    return SignupRefusal.objects.get()


# --- Invitations ---------------------------------------------------------------------------


def test_a_valid_invitation_is_accepted_and_reserved_for_this_user_in_five_queries(
    acme, invite, policy, django_assert_num_queries
):
    issued = invite(acme, "alice@acme.com")
    event = make_event(
        SIGN_UP,
        email="Alice@Acme.com",
        user_name="alice-1",
        metadata={"invitationCode": issued.code.lower(), "ipAddress": "203.0.113.7"},
    )

    # policy, domain rule, invitation by code (with its company, whose row holds the seat
    # count), the per-email and global limits (the address is not signed), reservation
    with django_assert_num_queries(6):
        answer = invoke(event)

    assert answer["response"] == {
        "autoConfirmUser": False,
        "autoVerifyEmail": False,
        "autoVerifyPhone": False,
    }
    assert answer["request"] == event["request"]
    issued.invitation.refresh_from_db()
    assert issued.invitation.reserved_for_username == "alice-1"
    assert issued.invitation.accepted_at is None  # accepted at confirmation, not before
    assert SignupRefusal.objects.count() == 0


def test_cognito_retrying_the_same_sign_up_passes_again(acme, invite, policy):
    issued = invite(acme)
    event = make_event(SIGN_UP, user_name="alice-1", metadata={"invitationCode": issued.code})

    invoke(event)
    invoke(event)

    assert Invitation.objects.get().reserved_for_username == "alice-1"


def test_a_second_sign_up_with_the_same_code_is_refused(acme, invite, policy):
    issued = invite(acme)
    invoke(make_event(SIGN_UP, user_name="alice-1", metadata={"invitationCode": issued.code}))

    error = refused(make_event(SIGN_UP, user_name="mallory", metadata={"invitationCode": issued.code}))

    assert error.public_message == "This invitation has already been used"
    assert Invitation.objects.get().reserved_for_username == "alice-1"
    refusal = only_refusal()
    assert (refusal.reason, refusal.invitation, refusal.company) == (
        "invitation_used",
        issued.invitation,
        acme,
    )


def test_the_snake_case_metadata_key_is_accepted_too(acme, invite, policy):
    issued = invite(acme)
    invoke(make_event(SIGN_UP, user_name="alice-1", metadata={"invitation_code": issued.code}))
    assert Invitation.objects.get().reserved_for_username == "alice-1"


def test_without_a_code_an_invitation_is_required(policy):
    error = refused(make_event(SIGN_UP, email="bob@example.org", metadata={"ipAddress": "203.0.113.7"}))

    assert str(error) == "An invitation code is required to sign up"
    refusal = only_refusal()
    assert refusal.reason == RefusalReason.INVITATION_REQUIRED
    assert refusal.email == "bob@example.org"
    assert refusal.trigger_source == SIGN_UP
    assert refusal.user_pool_id == "us-east-1_TESTPOOL"
    assert UserProfile.objects.count() == 0


def _expire(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


def _revoke(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())


def _accept(invitation):
    someone = UserProfile.objects.create(cognito_sub="s-1", username="first", email="alice@acme.com")
    invitation_accept(invitation=invitation, profile=someone)


def _fill(invitation):
    Company.objects.filter(pk=invitation.company_id).update(seat_limit=1)
    UserProfile.objects.create(
        cognito_sub="s-2", username="member", email="member@acme.com", company=invitation.company
    )


def _suspend(invitation):
    Company.objects.filter(pk=invitation.company_id).update(status="suspended")


@pytest.mark.parametrize(
    ("spoil", "reason", "message"),
    [
        (_expire, "invitation_expired", "This invitation has expired. Ask for a new one"),
        (_revoke, "invitation_revoked", "This invitation has been withdrawn"),
        (_accept, "invitation_used", "This invitation has already been used"),
        (_fill, "company_full", "This company has no free seats. Ask an administrator"),
        (_suspend, "company_suspended", "This company's account is suspended"),
    ],
)
def test_an_invitation_that_cannot_be_used_is_refused_with_its_own_message(
    acme, invite, policy, spoil, reason, message
):
    issued = invite(acme)
    spoil(issued.invitation)

    error = refused(make_event(SIGN_UP, user_name="alice-1", metadata={"invitationCode": issued.code}))

    assert error.public_message == message
    assert error.reason == reason
    refusal = only_refusal()
    assert (refusal.reason, refusal.invitation_id, refusal.company_id) == (
        reason,
        issued.invitation.pk,
        acme.pk,
    )
    assert Invitation.objects.get(pk=issued.invitation.pk).reserved_for_username == ""


def test_an_unknown_code_is_refused(policy):
    error = refused(make_event(SIGN_UP, metadata={"invitationCode": invitation_code_generate()}))

    assert error.public_message == "This invitation code is not valid"
    refusal = only_refusal()
    assert (refusal.reason, refusal.invitation, refusal.company) == ("invitation_unknown", None, None)


def test_a_code_for_another_email_is_refused(acme, invite, policy):
    issued = invite(acme, "alice@acme.com")

    error = refused(make_event(SIGN_UP, email="eve@acme.com", metadata={"invitationCode": issued.code}))

    assert error.public_message == "This invitation was sent to a different email address"
    assert only_refusal().reason == "invitation_email_mismatch"
    assert Invitation.objects.get().reserved_for_username == ""


def test_a_bad_code_is_refused_even_when_no_invitation_is_required(open_policy):
    error = refused(make_event(SIGN_UP, metadata={"invitationCode": "nope"}))
    assert error.reason == "invitation_unknown"


# --- Domains -------------------------------------------------------------------------------


def test_the_domain_allowlist_refuses_other_domains(open_policy):
    open_policy.domain_allowlist = ["acme.com"]
    open_policy.save()

    error = refused(make_event(SIGN_UP, email="eve@evil.example"))

    assert error.public_message == "Sign-up is not open to this email address's domain"
    refusal = only_refusal()
    assert refusal.reason == "domain_not_allowed"
    assert "evil.example" in refusal.detail
    assert invoke(make_event(SIGN_UP, email="bob@ACME.com"))["response"]["autoConfirmUser"] is False


def test_a_sign_up_without_an_email_is_refused_when_domains_are_restricted(open_policy):
    open_policy.domain_allowlist = ["acme.com"]
    open_policy.save()
    error = refused(make_event(SIGN_UP, email=None, attributes={"phone_number": "+12065550100"}))
    assert error.reason == "domain_not_allowed"


def test_a_company_domain_is_allowed_outside_the_allowlist_and_may_join_without_invitation(acme, policy):
    policy.domain_allowlist = ["example.com"]
    policy.save()
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True)

    answer = invoke(make_event(SIGN_UP, email="bob@acme.com"))

    assert answer["response"]["autoConfirmUser"] is False
    assert SignupRefusal.objects.count() == 0


def test_a_company_domain_without_join_still_needs_an_invitation(acme, policy):
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=False)
    assert refused(make_event(SIGN_UP, email="bob@acme.com")).reason == "invitation_required"


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"seat_limit": 0}, "company_full"), ({"status": "suspended"}, "company_suspended")],
)
def test_joining_by_domain_needs_a_company_that_can_take_the_user(acme, policy, change, reason):
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True)
    Company.objects.filter(pk=acme.pk).update(**change)

    error = refused(make_event(SIGN_UP, email="bob@acme.com"))

    assert error.reason == reason
    assert only_refusal().company == acme


def test_configured_domains_are_confirmed_at_once_but_their_email_stays_unverified(acme, open_policy):
    # A domain rule proves nothing about who holds the mailbox (issue 13, item 1).
    open_policy.auto_confirm_domains = ["partner.example"]
    open_policy.save()
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True, auto_confirm=True)

    partner = invoke(make_event(SIGN_UP, email="p@partner.example"))["response"]
    company = invoke(make_event(SIGN_UP, email="c@acme.com"))["response"]
    other = invoke(make_event(SIGN_UP, email="o@other.example"))["response"]

    assert (partner["autoConfirmUser"], partner["autoVerifyEmail"]) == (True, False)
    assert (company["autoConfirmUser"], company["autoVerifyEmail"]) == (True, False)
    assert (other["autoConfirmUser"], other["autoVerifyEmail"]) == (False, False)


def test_an_invitation_code_for_the_address_lets_an_auto_confirmed_email_be_verified(acme, invite, policy):
    # The code was mailed to this address: typing it proves the mailbox.
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=False, auto_confirm=True)
    issued = invite(acme, "alice@acme.com")

    answer = invoke(make_event(SIGN_UP, email="alice@acme.com", metadata={"invitationCode": issued.code}))

    assert (answer["response"]["autoConfirmUser"], answer["response"]["autoVerifyEmail"]) == (True, True)


def test_a_backtracking_employee_id_pattern_is_answered_at_once(open_policy):
    # Under Python's re this pattern takes about 10 s on 28 characters (doubling with each
    # one); RE2 answers in microseconds. The bound is a thousand times the real cost.
    SignupPolicy.objects.filter(pk=1).update(employee_id_pattern="([A-Z0-9]+)+-[0-9]{4}")
    event = make_event(SIGN_UP, attributes={"custom:employeeId": "A" * 27 + "!"})

    started = time.perf_counter()
    error = refused(event)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert error.reason == "employee_id_invalid"
    assert only_refusal().detail == "employee ID does not match the pattern"


# --- Employee ID and rate limit --------------------------------------------------------------


@pytest.mark.parametrize("employee_id", [None, "", "E12", "E12345", "xE1234", "E1234\n"])
def test_an_employee_id_must_match_the_whole_pattern(open_policy, employee_id):
    open_policy.employee_id_pattern = r"E\d{4}"
    open_policy.save()
    attributes = {} if employee_id is None else {"custom:employeeId": employee_id}

    error = refused(make_event(SIGN_UP, attributes=attributes))

    assert error.public_message == "A valid employee ID is required to sign up"
    assert only_refusal().reason == "employee_id_invalid"


def test_a_matching_employee_id_is_accepted(open_policy):
    open_policy.employee_id_pattern = r"E\d{4}"
    open_policy.save()
    assert invoke(make_event(SIGN_UP, attributes={"custom:employeeId": "E1234"}))["response"]


def test_sign_ups_per_address_are_limited_per_hour(open_policy, settings):
    settings.TRUSTED_BACKEND_SECRET = TRUSTED_SECRET
    open_policy.signups_per_ip_per_hour = 2
    open_policy.save()
    invoke(make_event(SIGN_UP, email="a@acme.com", metadata=signed_address("203.0.113.7", "a@acme.com")))
    invoke(make_event(SIGN_UP, email="b@acme.com", metadata=signed_address("203.0.113.7", "b@acme.com")))

    error = refused(
        make_event(SIGN_UP, email="c@acme.com", metadata=signed_address("203.0.113.7", "c@acme.com"))
    )

    assert error.public_message == "Too many sign-ups from your network. Please try again later"
    assert only_refusal().reason == "rate_limited"
    invoke(make_event(SIGN_UP, email="d@acme.com", metadata=signed_address("198.51.100.1", "d@acme.com")))
    invoke(make_event(SIGN_UP))  # no trusted address: the per-email and global limits count
    counter = RateLimitCounter.objects.get(scope="signup_ip", count=3)
    assert "203.0.113.7" not in counter.key  # stored hashed


def test_a_zero_limit_turns_the_rate_limit_off(open_policy):
    open_policy.signups_per_ip_per_hour = 0
    open_policy.save()
    for _ in range(3):
        invoke(make_event(SIGN_UP, metadata={"ipAddress": "203.0.113.7"}))
    assert RateLimitCounter.objects.count() == 0


# --- The client never grants anything ---------------------------------------------------------


def test_client_supplied_company_and_role_grant_nothing(acme, roles, open_policy):
    event = make_event(
        SIGN_UP,
        email="eve@evil.example",
        attributes={"custom:companyId": str(acme.pk), "custom:role": "SUPER_ADMIN"},
        metadata={"role": "SUPER_ADMIN", "companyId": str(acme.pk), "company": "acme"},
    )

    answer = invoke(event)

    assert answer["response"] == {
        "autoConfirmUser": False,
        "autoVerifyEmail": False,
        "autoVerifyPhone": False,
    }
    assert Invitation.objects.count() == 0
    assert UserProfile.objects.count() == 0


def test_client_supplied_company_does_not_replace_the_invitation_requirement(acme, policy):
    event = make_event(SIGN_UP, attributes={"custom:companyId": str(acme.pk)}, metadata={"company": "acme"})
    assert refused(event).reason == "invitation_required"


# --- Admin-created and federated users ----------------------------------------------------------


def test_admin_created_users_need_no_invitation_and_get_no_confirm_flags(acme, policy):
    policy.auto_confirm_domains = ["acme.com"]
    policy.signups_per_ip_per_hour = 1
    policy.employee_id_pattern = r"E\d{4}"
    policy.save()
    event = make_event(ADMIN, email="bob@acme.com", metadata={"ipAddress": "203.0.113.7"}, response={})

    first = invoke(event)
    invoke(make_event(ADMIN, email="carol@acme.com", metadata={"ipAddress": "203.0.113.7"}))

    # Cognito ignores autoConfirmUser/autoVerifyEmail for AdminCreateUser: none are sent.
    assert first["response"] == {}
    assert RateLimitCounter.objects.count() == 0


def test_admin_created_users_are_bound_to_their_pending_invitation(acme, invite, policy):
    issued = invite(acme, "bob@acme.com", role="ADMIN")
    invoke(make_event(ADMIN, email="bob@acme.com", user_name="bob"))
    assert Invitation.objects.get(pk=issued.invitation.pk).reserved_for_username == "bob"


def test_admin_created_users_still_follow_the_domain_allowlist_and_a_given_code(policy):
    policy.domain_allowlist = ["acme.com"]
    policy.save()
    assert refused(make_event(ADMIN, email="x@evil.example")).reason == "domain_not_allowed"
    assert refused(make_event(ADMIN, email="x@acme.com", metadata={"invitationCode": "x"})).reason == (
        "invitation_unknown"
    )


def test_admin_created_users_with_a_wrong_employee_id_are_refused(open_policy):
    open_policy.employee_id_pattern = r"E\d{4}"
    open_policy.save()
    error = refused(make_event(ADMIN, attributes={"custom:employeeId": "nope"}))
    assert error.reason == "employee_id_invalid"


def test_federated_users_use_the_invitation_sent_to_their_address(acme, invite, policy):
    issued = invite(acme, "bob@acme.com")

    answer = invoke(make_event(FEDERATED, email="bob@acme.com", user_name="Google_1234"))

    assert answer["response"]["autoConfirmUser"] is False
    assert Invitation.objects.get(pk=issued.invitation.pk).reserved_for_username == "Google_1234"
    assert refused(make_event(FEDERATED, email="eve@gmail.example")).reason == "invitation_required"


def test_federated_users_get_the_reason_their_invitation_cannot_be_used(acme, invite, policy):
    issued = invite(acme, "bob@acme.com")
    Company.objects.filter(pk=acme.pk).update(seat_limit=0)

    error = refused(make_event(FEDERATED, email="bob@acme.com", user_name="Google_1234"))

    assert error.reason == "company_full"
    assert only_refusal().invitation == issued.invitation


def test_federated_users_may_come_without_an_employee_id(open_policy):
    open_policy.employee_id_pattern = r"E\d{4}"
    open_policy.save()
    assert invoke(make_event(FEDERATED, email="bob@acme.com"))["response"]["autoConfirmUser"] is False


# --- Dispatcher -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", PRE_SIGN_UP_SOURCES)
def test_every_pre_sign_up_source_reaches_the_handler(acme, invite, open_policy, source):
    # Only the handler can write these: an answer passed through unchanged (a bare
    # `return event.respond()`) reserves nothing and answers {} where auto-confirm is due.
    open_policy.auto_confirm_domains = ["acme.com"]
    open_policy.save()
    issued = invite(acme, "alice@acme.com")

    answer = invoke(make_event(source, user_name="alice-1", metadata={"invitationCode": issued.code}))

    assert answer["triggerSource"] == source
    if source == ADMIN:
        assert answer["response"] == {}  # Cognito ignores the flags for AdminCreateUser
    else:
        assert answer["response"] == {
            "autoConfirmUser": True,
            # The code proves the address of a self sign-up; an identity provider's email
            # proves nothing, so a federated user's is never marked verified.
            "autoVerifyEmail": source == SIGN_UP,
            "autoVerifyPhone": False,
        }
    assert Invitation.objects.get().reserved_for_username == "alice-1"


@pytest.mark.parametrize("source", PRE_SIGN_UP_SOURCES)
def test_every_pre_sign_up_source_is_refused_without_invitation_when_one_is_required(policy, source):
    if source == ADMIN:
        assert invoke(make_event(source))["response"] == {}
    else:
        assert refused(make_event(source)).reason == "invitation_required"


def test_a_new_source_in_the_family_gets_the_strictest_rules(open_policy):
    open_policy.employee_id_pattern = r"E\d{4}"
    open_policy.save()
    assert refused(make_event("PreSignUp_SomethingAwsAddsLater")).reason == "employee_id_invalid"


def test_the_single_trigger_handler_answers_only_its_family(open_policy):
    from triggers.errors import UnknownTrigger
    from triggers.pre_sign_up import handler

    assert handler(make_event(SIGN_UP), None)["response"]["autoConfirmUser"] is False
    with pytest.raises(UnknownTrigger):
        handler(make_event("PostConfirmation_ConfirmSignUp"), None)


def test_the_policy_is_created_with_its_defaults_when_missing():
    SignupPolicy.objects.all().delete()

    assert refused(make_event(SIGN_UP)).reason == "invitation_required"
    assert SignupPolicy.objects.get(pk=1).signups_per_ip_per_hour == 20
