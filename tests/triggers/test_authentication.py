"""Pre and post authentication through the Lambda entry point, on real Postgres."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from accounts.sign_in import device_fingerprint, ip_in_allowlist
from invites.models import SignupRefusal
from tenants.models import ActivityEvent, KnownDevice, UserProfile
from tests.triggers.helpers import TRUSTED_SECRET, signed_address
from tests.triggers.helpers import reference_raw as reference
from triggers.errors import Rejection
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

PRE_AUTH = "powertools-python__cognitoPreAuthenticationEvent.json"
PRE_AUTH_GO = "aws-lambda-go__cognito-event-userpools-preauthentication.json"
PRE_AUTH_DOTNET = "aws-lambda-dotnet__cognito-preauthentication-event.json"
POST_AUTH = "powertools-python__cognitoPostAuthenticationEvent.json"
POST_AUTH_GO = "aws-lambda-go__cognito-event-userpools-postauthentication.json"
POST_AUTH_DOTNET = "aws-lambda-dotnet__cognito-postauthentication-event.json"

PRE_AUTH_SUB = "4A709A36-7D63-4785-829D-4198EF10EBDA"
POST_AUTH_SUB = "5b1c2d3e-0000-4000-8000-00000000beef"


def member(sub: str, *, email: str, company=None, role=None, **fields: Any) -> UserProfile:
    return UserProfile.objects.create(
        cognito_sub=sub, username="UserName", email=email, company=company, role=role, **fields
    )


@pytest.fixture(autouse=True)
def trusted_backend(settings: Any) -> None:
    settings.TRUSTED_BACKEND_SECRET = TRUSTED_SECRET


def pre_auth(*, ip: str | None = None, where: str = "validationData") -> dict[str, Any]:
    """A pre authentication event whose address the app's backend signed."""
    event = reference(PRE_AUTH)
    if ip is not None:
        email = event["request"]["userAttributes"].get("email", "")
        event["request"][where] = signed_address(ip, email)
    return event


def post_auth(**metadata: str) -> dict[str, Any]:
    event = reference(POST_AUTH)
    event["request"]["userAttributes"]["sub"] = POST_AUTH_SUB
    event["request"]["newDeviceUsed"] = False
    if metadata:
        event["request"]["clientMetadata"] = metadata
    return event


# --- Pre authentication ------------------------------------------------------------------------


def test_an_active_member_signs_in_with_one_query(acme, roles, django_assert_num_queries):
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])
    event = pre_auth()

    with django_assert_num_queries(1):
        answer = handler(copy.deepcopy(event), None)

    assert answer == event
    assert SignupRefusal.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "reason", "message"),
    [
        ("user", "user_suspended", "Your account is suspended. Contact your administrator"),
        ("company", "company_suspended", "Your company's account is suspended. Contact your administrator"),
    ],
)
def test_suspended_users_and_companies_are_refused_with_a_clear_message(who, reason, message, acme, roles):
    profile = member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])
    if who == "user":
        profile.status = "suspended"
        profile.save()
    else:
        acme.status = "suspended"
        acme.save()

    with pytest.raises(Rejection) as refused:
        handler(pre_auth(), None)

    assert str(refused.value) == message
    assert refused.value.reason == reason
    refusal = SignupRefusal.objects.get()
    assert (refusal.reason, refusal.company, refusal.email, refusal.trigger_source) == (
        reason,
        acme,
        "pre-auth@mail.com",
        "PreAuthentication_Authentication",
    )
    profile.refresh_from_db()
    assert (profile.login_count, profile.last_login_at) == (0, None)
    assert ActivityEvent.objects.count() == 0


def test_a_suspended_user_without_a_company_is_refused(db):
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", status="suspended")

    with pytest.raises(Rejection) as refused:
        handler(pre_auth(), None)

    assert refused.value.reason == "user_suspended"
    assert SignupRefusal.objects.get().company is None


@pytest.mark.parametrize(
    ("allowlist", "ip", "where"),
    [
        (["203.0.113.0/24"], "203.0.113.7", "validationData"),
        (["203.0.113.0/24"], "203.0.113.7", "clientMetadata"),
        (["198.51.100.0/24", "203.0.113.7"], "203.0.113.7", "validationData"),
        (["2001:db8::/32"], "2001:db8:1::5", "validationData"),
        (["2001:db8::/32"], "2001:DB8::1", "validationData"),
        (["203.0.113.0/24"], "::ffff:203.0.113.7", "validationData"),
        (["203.0.113.0/24", "2001:db8::/32"], "2001:db8::1", "clientMetadata"),
    ],
)
def test_an_address_inside_the_allowlist_signs_in(allowlist, ip, where, acme, roles):
    acme.ip_allowlist = allowlist
    acme.save()
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])

    answer = handler(pre_auth(ip=ip, where=where), None)

    assert answer["response"] == {}
    assert SignupRefusal.objects.count() == 0


@pytest.mark.parametrize(
    ("allowlist", "ip"),
    [
        (["203.0.113.0/24"], "198.51.100.1"),
        (["203.0.113.0/24"], "203.0.114.1"),
        (["2001:db8::/32"], "2001:db9::1"),
        (["2001:db8::/32"], "203.0.113.7"),  # an IPv4 address never matches an IPv6 block
        (["203.0.113.0/24"], "2001:db8::1"),
        (["203.0.113.0/24"], None),  # no address at all
        (["203.0.113.0/24"], ""),
        (["203.0.113.0/24"], "not-an-address"),
        (["203.0.113.0/24"], "203.0.113.7, 10.0.0.1"),  # a forwarded-for list is not an address
    ],
)
def test_an_address_outside_the_allowlist_or_missing_is_refused(allowlist, ip, acme, roles):
    acme.ip_allowlist = allowlist
    acme.save()
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])

    with pytest.raises(Rejection) as refused:
        handler(pre_auth(ip=ip), None)

    assert str(refused.value) == "Your company does not allow sign-in from this network"
    assert refused.value.reason == "ip_not_allowed"
    assert SignupRefusal.objects.get().reason == "ip_not_allowed"
    assert ActivityEvent.objects.count() == 0


def test_validation_data_outranks_client_metadata(acme, roles):
    acme.ip_allowlist = ["203.0.113.0/24"]
    acme.save()
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])
    event = pre_auth(ip="198.51.100.1")
    event["request"]["clientMetadata"] = signed_address(
        "203.0.113.7", event["request"]["userAttributes"]["email"]
    )

    with pytest.raises(Rejection):
        handler(event, None)


def test_an_empty_allowlist_allows_any_or_no_address(acme, roles):
    member(PRE_AUTH_SUB, email="pre-auth@mail.com", company=acme, role=roles["USER"])

    assert handler(pre_auth(), None)["response"] == {}
    assert handler(pre_auth(ip="198.51.100.1"), None)["response"] == {}


def test_ip_in_allowlist_skips_a_broken_block():
    assert ip_in_allowlist(allowlist=["nonsense", "10.0.0.0/8"], address="10.1.2.3") is True
    assert ip_in_allowlist(allowlist=["nonsense"], address="10.1.2.3") is False


def test_a_user_gatehouse_does_not_know_yet_passes(db):
    answer = handler(pre_auth(), None)

    assert answer["response"] == {}
    assert SignupRefusal.objects.count() == 0


def test_published_pre_authentication_events_pass(db, django_assert_num_queries):
    go = reference(PRE_AUTH_GO)  # no sub
    dotnet = reference(PRE_AUTH_DOTNET)  # placeholder source, userNotFound
    dotnet["triggerSource"] = "PreAuthentication_Authentication"

    assert handler(go, None)["response"] == {}
    with django_assert_num_queries(0):
        assert handler(dotnet, None)["response"] == {}


# --- Post authentication -----------------------------------------------------------------------


def test_a_sign_in_updates_the_profile_and_records_activity(acme, roles, django_assert_num_queries):
    profile = member(POST_AUTH_SUB, email="post-auth@mail.com", company=acme, role=roles["USER"])
    event = post_auth(deviceKey="us-east-1_dev-key-1", userAgent="Mozilla/5.0 (X11; Linux)")

    # SELECT profile, UPDATE it, INSERT sign_in, UPSERT device, INSERT new_device; plus the
    # SAVEPOINT/RELEASE pair that transaction.atomic becomes inside the test's transaction.
    with django_assert_num_queries(7):
        answer = handler(copy.deepcopy(event), None)

    assert answer == event
    profile.refresh_from_db()
    assert profile.login_count == 1
    assert profile.last_login_at is not None
    sign_in = ActivityEvent.objects.get(kind="sign_in")
    assert (sign_in.profile, sign_in.company) == (profile, acme)
    assert sign_in.data == {"client_id": "clientId", "trigger_source": "PostAuthentication_Authentication"}
    device = KnownDevice.objects.get()
    assert device.profile == profile
    assert device.fingerprint == device_fingerprint(device_key="us-east-1_dev-key-1")
    assert "us-east-1_dev-key-1" not in device.fingerprint
    assert device.description == "Mozilla/5.0 (X11; Linux)"
    new_device = ActivityEvent.objects.get(kind="new_device")
    assert new_device.data == {
        "client_id": "clientId",
        "fingerprint": device.fingerprint[:12],
        "cognito_new_device": False,
    }


def test_a_known_device_is_not_new_again(acme, roles):
    profile = member(POST_AUTH_SUB, email="post-auth@mail.com", company=acme, role=roles["USER"])
    event = post_auth(userAgent="Mozilla/5.0 (X11; Linux)")

    handler(copy.deepcopy(event), None)
    first_seen = KnownDevice.objects.get().last_seen_at
    handler(copy.deepcopy(event), None)

    profile.refresh_from_db()
    assert profile.login_count == 2
    assert ActivityEvent.objects.filter(kind="sign_in").count() == 2
    assert ActivityEvent.objects.filter(kind="new_device").count() == 1
    device = KnownDevice.objects.get()
    assert device.fingerprint == device_fingerprint(user_agent="Mozilla/5.0 (X11; Linux)")
    assert device.last_seen_at > first_seen


def test_cognitos_new_device_flag_is_noted_without_device_details(acme, roles):
    profile = member(POST_AUTH_SUB, email="post-auth@mail.com", company=acme)
    event = post_auth()
    event["request"]["newDeviceUsed"] = True

    handler(event, None)

    assert KnownDevice.objects.count() == 0
    new_device = ActivityEvent.objects.get(kind="new_device")
    assert new_device.profile == profile
    assert new_device.data == {"client_id": "clientId", "fingerprint": "", "cognito_new_device": True}


def test_a_first_sign_in_without_a_profile_onboards_the_user(db, roles):
    # AdminCreateUser users never reach post confirmation: the first sign-in onboards them.
    event = post_auth()
    event["request"]["userAttributes"].update(given_name="Ada", family_name="Lovelace")

    handler(event, None)

    profile = UserProfile.objects.get(cognito_sub=POST_AUTH_SUB)
    assert (profile.username, profile.email, profile.given_name, profile.family_name) == (
        "UserName",
        "post-auth@mail.com",
        "Ada",
        "Lovelace",
    )
    assert profile.login_count == 1
    assert set(ActivityEvent.objects.values_list("kind", flat=True)) == {"sign_up", "sign_in"}


def test_onboarded_at_first_sign_in_the_token_has_the_claims_at_once(acme, roles):
    from tenants.models import CompanyDomain

    CompanyDomain.objects.create(company=acme, domain="mail.com", allow_join=True)
    token_event = reference("powertools-python__cognitoPreTokenGenerationEvent.json")
    token_event["request"]["userAttributes"]["sub"] = POST_AUTH_SUB
    before = handler(copy.deepcopy(token_event), None)["response"]["claimsOverrideDetails"]

    handler(post_auth_with(email="post-auth@mail.com", verified="true"), None)
    after = handler(copy.deepcopy(token_event), None)["response"]["claimsOverrideDetails"]

    assert "custom:companyId" not in before["claimsToAddOrOverride"]
    assert after["claimsToAddOrOverride"]["custom:companyId"] == str(acme.pk)
    assert after["claimsToAddOrOverride"]["custom:role"] == "USER"


def test_a_failed_write_is_logged_and_does_not_block_the_sign_in(acme, roles, caplog):
    # login_count at the top of Postgres' integer range: the UPDATE itself fails.
    profile = member(POST_AUTH_SUB, email="post-auth@mail.com", company=acme, login_count=2147483647)
    event = post_auth(deviceKey="dev-1")

    with caplog.at_level(logging.ERROR):
        answer = handler(copy.deepcopy(event), None)

    assert answer == event
    profile.refresh_from_db()
    assert (profile.login_count, profile.last_login_at) == (2147483647, None)
    assert ActivityEvent.objects.count() == 0
    assert KnownDevice.objects.count() == 0
    [record] = [r for r in caplog.records if r.getMessage() == "sign-in not recorded"]
    assert record.exc_info is not None
    assert "post-auth@mail.com" not in json.dumps(record.__dict__, default=str)


def test_a_malformed_post_authentication_event_does_not_block_the_sign_in(db, caplog):
    event = post_auth()
    event["request"]["userAttributes"]["address"] = {"street": "nested objects are not attributes"}
    event["request"]["clientMetadata"] = {"nested": {"a": 1}}

    with caplog.at_level(logging.WARNING):
        answer = handler(copy.deepcopy(event), None)

    assert answer == event
    assert UserProfile.objects.count() == 0
    assert any(r.getMessage() == "sign-in not recorded: the event has no sub" for r in caplog.records)


@pytest.mark.parametrize("name", [POST_AUTH_GO, POST_AUTH_DOTNET, POST_AUTH])
def test_published_post_authentication_events_without_a_sub_pass_and_write_nothing(name, db):
    event = reference(name)
    if event["triggerSource"] == "trigger_source":
        event["triggerSource"] = "PostAuthentication_Authentication"

    answer = handler(copy.deepcopy(event), None)

    assert answer["response"] == {}
    assert UserProfile.objects.count() == 0
    assert ActivityEvent.objects.count() == 0


# --- Only a proved email moves a profile or leads to a company (issue 13, items 1 to 3) --------


def post_auth_with(*, email: str, verified: str | None, **attributes: str) -> dict[str, Any]:
    event = post_auth()
    event["request"]["userAttributes"]["email"] = email
    if verified is not None:
        event["request"]["userAttributes"]["email_verified"] = verified
    event["request"]["userAttributes"].update(attributes)
    return event


def test_an_unverified_email_changed_to_an_invitees_takes_no_invitation_at_sign_in(acme, roles, invite):
    # The user's post confirmation never onboarded them; they set the invitee's address
    # (unverified) and sign in.
    invite(acme, "ceo@acme.com", role="ADMIN")

    handler(post_auth_with(email="ceo@acme.com", verified="false"), None)

    profile = UserProfile.objects.get(cognito_sub=POST_AUTH_SUB)
    assert (profile.company, profile.role) == (None, None)
    from invites.models import Invitation

    assert Invitation.objects.get().accepted_at is None


def test_a_domain_join_waits_for_the_verified_email_and_happens_at_the_next_sign_in(acme, roles):
    from tenants.models import CompanyDomain

    CompanyDomain.objects.create(company=acme, domain="mail.com", allow_join=True, auto_confirm=True)

    handler(post_auth_with(email="post-auth@mail.com", verified="false"), None)
    assert UserProfile.objects.get().company is None

    handler(post_auth_with(email="post-auth@mail.com", verified="true"), None)

    profile = UserProfile.objects.get()
    assert (profile.company, profile.role, profile.login_count) == (acme, roles["USER"], 2)


def test_the_profile_follows_a_verified_email_and_new_names(acme, roles):
    member(POST_AUTH_SUB, email="old@mail.com", company=acme, role=roles["USER"], given_name="Al")

    handler(post_auth_with(email="New@Mail.com", verified="true", given_name="Alice", family_name="Ex"), None)

    profile = UserProfile.objects.get()
    assert (profile.email, profile.given_name, profile.family_name) == ("new@mail.com", "Alice", "Ex")
    assert (profile.company, profile.role) == (acme, roles["USER"])


@pytest.mark.parametrize("verified", ["false", None])
def test_an_unverified_email_change_never_moves_the_profile(acme, roles, verified):
    member(POST_AUTH_SUB, email="old@mail.com", company=acme, role=roles["USER"])

    handler(post_auth_with(email="ceo@acme.com", verified=verified), None)

    assert UserProfile.objects.get().email == "old@mail.com"


def test_the_proof_of_an_email_is_recorded_only_when_cognito_gives_it(db):
    handler(post_auth_with(email="dana@example.com", verified="false"), None)
    profile = UserProfile.objects.get(cognito_sub=POST_AUTH_SUB)
    assert (profile.email, profile.email_verified) == ("dana@example.com", False)

    handler(post_auth_with(email="dana@example.com", verified="true"), None)

    profile.refresh_from_db()
    assert profile.email_verified is True
