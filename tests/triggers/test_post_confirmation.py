"""Post confirmation: onboarding once, with side effects that are stored, sent and never doubled."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from accounts.onboarding import profile_onboard
from invites.models import Invitation, SignupRefusal
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import side_effects_drain
from outbox.services import side_effect_retry
from tenants.models import (
    ActivityEvent,
    Company,
    CompanyDomain,
    EmailTemplate,
    LegacyUser,
    Role,
    UserProfile,
    Workspace,
)
from tests.triggers.helpers import POST_CONFIRMATION_SOURCES, invocation_outcomes, make_event
from triggers.lambda_handler import invoke

CONFIRM = "PostConfirmation_ConfirmSignUp"
FORGOT = "PostConfirmation_ConfirmForgotPassword"


def confirm_event(pool_id="us-east-1_TESTPOOL", **kwargs):
    kwargs.setdefault("sub", "5b2f0c1e-0000-4000-8000-00000000a11c")
    kwargs.setdefault("user_name", "alice")
    event = make_event(CONFIRM, user_pool_id=pool_id, **kwargs)
    event["request"]["userAttributes"]["cognito:user_status"] = "CONFIRMED"
    event["request"]["userAttributes"]["email_verified"] = "true"
    return event


def sign_up_with_code(code, user_name="alice", email="alice@acme.com"):
    invoke(
        make_event("PreSignUp_SignUp", email=email, user_name=user_name, metadata={"invitationCode": code})
    )


def pool_user(pool_id, username="alice", email="alice@acme.com"):
    from outbox.aws import client

    client("cognito-idp").admin_create_user(
        UserPoolId=pool_id, Username=username, UserAttributes=[{"Name": "email", "Value": email}]
    )


def groups_of(pool_id, username="alice"):
    from outbox.aws import client

    answer = client("cognito-idp").admin_list_groups_for_user(UserPoolId=pool_id, Username=username)
    return [group["GroupName"] for group in answer["Groups"]]


# --- The whole path, against moto ----------------------------------------------------------------


@pytest.mark.django_db
def test_confirming_onboards_with_the_reserved_invitation_and_runs_every_side_effect(
    acme, invite, policy, cognito_pool, aws, django_capture_on_commit_callbacks
):
    issued = invite(acme, "alice@acme.com", role="ADMIN")
    sign_up_with_code(issued.code)
    pool_user(cognito_pool)
    event = confirm_event(
        cognito_pool,
        attributes={"given_name": "Alice", "family_name": "Example"},
        metadata={"utm_source": "newsletter", "campaign": "spring", "referrer": "https://blog.example/"},
    )

    with django_capture_on_commit_callbacks(execute=True):
        answer = invoke(event)

    assert answer["response"] == {}
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.username, profile.email) == (
        "5b2f0c1e-0000-4000-8000-00000000a11c",
        "alice",
        "alice@acme.com",
    )
    assert (profile.company, profile.role.key, profile.full_name) == (acme, "ADMIN", "Alice Example")
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == profile
    assert Workspace.objects.count() == 0  # a company member gets no personal workspace
    activity = ActivityEvent.objects.get()
    assert (activity.kind, activity.profile, activity.company) == ("sign_up", profile, acme)
    assert activity.data == {
        "source": "newsletter",
        "campaign": "spring",
        "referrer": "https://blog.example/",
    }
    assert groups_of(cognito_pool) == ["ADMIN"]
    sent = aws.ses_messages()
    assert len(sent) == 1
    assert sent[0].destinations["ToAddresses"] == ["alice@acme.com"]
    assert "Welcome, Alice" in sent[0].body
    assert set(SideEffect.objects.values_list("kind", "status")) == {
        (SideEffectKind.SEND_EMAIL, SideEffectStatus.DONE),
        (SideEffectKind.COGNITO_ADD_TO_GROUP, SideEffectStatus.DONE),
    }


@pytest.mark.django_db
def test_the_welcome_email_uses_the_company_template_and_escapes_what_the_user_typed(
    acme, invite, policy, aws, django_capture_on_commit_callbacks
):
    Company.objects.filter(pk=acme.pk).update(brand_display_name="Acme Inc.", brand_sender_name="Acme Team")
    EmailTemplate.objects.create(
        key="welcome",
        language="en",
        company=acme,
        subject="Hello from {{ company.display_name }}",
        html_body="<p>Acme edit: hi {{ user.given_name }}, you are {{ role.name }}.</p>",
        text_body="Acme edit: hi {{ user.given_name }}",
    )
    issued = invite(acme)
    sign_up_with_code(issued.code)
    hostile = '<script>alert("x")</script><a href="https://evil.example">'

    with django_capture_on_commit_callbacks(execute=True):
        invoke(confirm_event(attributes={"given_name": hostile}))

    (sent,) = aws.ses_messages()
    assert sent.subject == "Hello from Acme Inc."
    assert sent.source == '"Acme Team" <no-reply@gatehouse.test>'
    assert sent.body == (
        "<p>Acme edit: hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;a "
        "href=&quot;https://evil.example&quot;&gt;, you are User.</p>"
    )


@pytest.mark.django_db
def test_a_side_effect_that_fails_is_kept_and_succeeds_on_retry_while_the_user_is_confirmed(
    acme, invite, policy, cognito_pool, aws, settings, django_capture_on_commit_callbacks
):
    settings.SES_SENDER = "Gatehouse <unverified@elsewhere.test>"  # SES refuses an unverified sender
    issued = invite(acme)
    sign_up_with_code(issued.code)
    pool_user(cognito_pool)

    with django_capture_on_commit_callbacks(execute=True):
        answer = invoke(confirm_event(cognito_pool))

    assert answer["response"] == {}
    assert UserProfile.objects.get().company == acme
    email = SideEffect.objects.get(kind=SideEffectKind.SEND_EMAIL)
    assert (email.status, email.attempts) == (SideEffectStatus.PENDING, 1)
    assert "MessageRejected" in email.last_error
    assert aws.ses_messages() == []
    assert groups_of(cognito_pool) == ["USER"]  # the other side effect was not held up

    from outbox.aws import client

    client("ses").verify_email_identity(EmailAddress="unverified@elsewhere.test")
    assert side_effect_retry(side_effect=email) is True
    assert side_effects_drain() == {"done": 1}
    assert len(aws.ses_messages()) == 1
    assert side_effects_drain() == {}


@pytest.mark.django_db
def test_a_forgotten_password_confirmation_does_nothing(acme, invite, policy, django_assert_num_queries):
    issued = invite(acme)
    sign_up_with_code(issued.code)
    event = make_event(FORGOT, sub="5b2f0c1e-0000-4000-8000-00000000a11c", user_name="alice")

    with django_assert_num_queries(0):
        answer = invoke(event)

    assert answer == {**event, "response": {}}
    assert UserProfile.objects.count() == 0
    assert Invitation.objects.get().accepted_at is None
    assert SideEffect.objects.count() == 0


@pytest.mark.django_db
def test_replaying_the_confirmation_adds_nothing(
    acme, invite, policy, cognito_pool, aws, django_capture_on_commit_callbacks, caplog
):
    issued = invite(acme)
    sign_up_with_code(issued.code)
    pool_user(cognito_pool)
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    caplog.clear()  # only the confirmations' lines: the sign-up above logged its own

    answers = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(invoke(confirm_event(cognito_pool)))

    # A replay that crashed would answer {} too (the user is confirmed already): each
    # invocation's log line must say it went well.
    assert [answer["response"] for answer in answers] == [{}, {}, {}]
    assert invocation_outcomes(caplog) == ["ok", "ok", "ok"]
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.company, profile.role.key) == (
        "5b2f0c1e-0000-4000-8000-00000000a11c",
        acme,
        "USER",
    )
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.status) == (profile, "accepted")
    assert ActivityEvent.objects.count() == 1
    assert SideEffect.objects.count() == 2
    assert len(aws.ses_messages()) == 1
    assert groups_of(cognito_pool) == ["USER"]


@pytest.mark.django_db(transaction=True)
def test_three_concurrent_confirmations_onboard_once(acme, invite, policy, cognito_pool, aws, caplog):
    issued = invite(acme)
    sign_up_with_code(issued.code)
    pool_user(cognito_pool)
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    caplog.clear()  # only the confirmations' lines: the sign-up above logged its own
    event = confirm_event(cognito_pool)
    barrier = threading.Barrier(3)
    answers, errors = [], []

    def confirm():
        try:
            barrier.wait()
            answers.append(invoke(json.loads(json.dumps(event))))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [a["response"] for a in answers] == [{}, {}, {}]
    # The two that lost the race must have found the winner's profile, not crashed: a crash
    # is answered {} as well, so only the log lines show it.
    assert invocation_outcomes(caplog) == ["ok", "ok", "ok"]
    profile = UserProfile.objects.get()
    assert (profile.company, profile.role.key) == (acme, "USER")
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.status) == (profile, "accepted")
    assert ActivityEvent.objects.count() == 1
    assert SideEffect.objects.filter(status=SideEffectStatus.DONE).count() == 2
    assert len(aws.ses_messages()) == 1
    assert groups_of(cognito_pool) == ["USER"]


# --- Where the company comes from -------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_an_invitation_that_can_no_longer_be_accepted_still_onboards_the_user_and_is_recorded(
    acme, invite, policy
):
    issued = invite(acme)
    sign_up_with_code(issued.code)
    Company.objects.filter(pk=acme.pk).update(seat_limit=0)  # the last seat went meanwhile

    answer = invoke(confirm_event())

    assert answer["response"] == {}
    profile = UserProfile.objects.get()
    assert (profile.company, profile.role) == (None, None)
    assert Workspace.objects.get().owner == profile
    refusal = SignupRefusal.objects.get()
    assert (refusal.reason, refusal.invitation, refusal.company) == ("company_full", issued.invitation, acme)
    assert refusal.trigger_source == "onboarding"
    assert Invitation.objects.get().accepted_at is None
    assert not SideEffect.objects.filter(kind=SideEffectKind.COGNITO_ADD_TO_GROUP).exists()


@pytestmark_db
def test_a_code_given_at_confirmation_is_accepted_when_nothing_was_reserved(acme, invite, open_policy):
    issued = invite(acme, role="ADMIN")
    invoke(confirm_event(metadata={"invitationCode": issued.code}))
    assert UserProfile.objects.get().role.key == "ADMIN"


@pytestmark_db
def test_a_code_given_at_confirmation_for_another_address_grants_nothing(acme, invite, open_policy, caplog):
    """clientMetadata is the client's: invitation_accept's email check is all that stops Bob here.

    Bob signed up without a code (the policy lets him) and puts Alice's code only in
    ConfirmSignUp's ClientMetadata, which pre sign-up never saw; Alice has not signed up, so
    nothing is reserved. The code alone must not move her invitation, company or role to Bob.
    """
    caplog.set_level(logging.INFO, logger="gatehouse.triggers")
    issued = invite(acme, "alice@acme.com", role="ADMIN")

    answer = invoke(
        confirm_event(
            email="bob@example.org",
            user_name="bob",
            sub="sub-of-bob",
            metadata={"invitationCode": issued.code},
        )
    )

    assert answer["response"] == {}
    assert invocation_outcomes(caplog) == ["ok"]  # a refusal at onboarding, not a crash
    bob = UserProfile.objects.get()
    assert (bob.cognito_sub, bob.company, bob.role) == ("sub-of-bob", None, None)
    assert Workspace.objects.get().owner == bob
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.accepted_by, invitation.reserved_for_username) == (
        "pending",
        None,
        "",
    )
    refusal = SignupRefusal.objects.get()
    assert (refusal.reason, refusal.trigger_source, refusal.email, refusal.invitation, refusal.company) == (
        "invitation_email_mismatch",
        "onboarding",
        "bob@example.org",
        issued.invitation,
        acme,
    )
    assert list(SideEffect.objects.values_list("kind", flat=True)) == [SideEffectKind.SEND_EMAIL]


@pytestmark_db
def test_a_pending_invitation_for_the_verified_email_is_accepted(acme, invite, open_policy):
    issued = invite(acme, "alice@acme.com")
    invoke(confirm_event(email="ALICE@acme.com"))
    assert Invitation.objects.get().accepted_by == UserProfile.objects.get()
    assert issued.invitation.company == UserProfile.objects.get().company


@pytestmark_db
def test_an_invitation_reserved_for_another_user_is_not_taken(acme, invite, policy):
    issued = invite(acme)
    sign_up_with_code(issued.code, user_name="first-user")

    invoke(confirm_event(user_name="second-user", sub="sub-of-the-second-user"))

    assert UserProfile.objects.get().company is None
    assert Invitation.objects.get().accepted_at is None


@pytestmark_db
def test_a_legacy_user_is_migrated_into_their_company(acme, roles, open_policy):
    legacy = LegacyUser.objects.create(
        email="Alice@Acme.com", password_hash="md5$x$y", company=acme, role=roles["ADMIN"]
    )

    invoke(confirm_event())

    profile = UserProfile.objects.get()
    assert (profile.company, profile.role, profile.migrated_from_legacy) == (acme, roles["ADMIN"], True)
    legacy.refresh_from_db()
    assert legacy.migrated_at is not None


@pytestmark_db
def test_a_join_domain_gives_the_company_default_role_or_user(acme, roles, open_policy):
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True)
    invoke(confirm_event())
    assert (UserProfile.objects.get().company, UserProfile.objects.get().role) == (acme, roles["USER"])

    manager = Role.objects.create(key="MANAGER", name="Manager", company=acme)
    Company.objects.filter(pk=acme.pk).update(default_role=manager)
    invoke(confirm_event(email="bob@acme.com", sub="sub-bob", user_name="bob"))
    assert UserProfile.objects.get(username="bob").role == manager


@pytestmark_db
def test_no_company_gives_a_personal_workspace_and_no_group(open_policy, acme, roles):
    invoke(
        confirm_event(
            email="eve@evil.example",
            attributes={"custom:companyId": str(acme.pk), "custom:role": "SUPER_ADMIN"},
            metadata={"role": "SUPER_ADMIN", "companyId": str(acme.pk)},
        )
    )

    profile = UserProfile.objects.get()
    assert (profile.company, profile.role) == (None, None)
    assert Workspace.objects.get().kind == "personal"
    assert list(SideEffect.objects.values_list("kind", flat=True)) == [SideEffectKind.SEND_EMAIL]


@pytestmark_db
def test_a_confirmation_without_a_sub_is_answered_and_left_to_the_first_sign_in(open_policy):
    event = confirm_event()
    del event["request"]["userAttributes"]["sub"]
    assert invoke(event)["response"] == {}
    assert UserProfile.objects.count() == 0


@pytestmark_db
@pytest.mark.parametrize("source", POST_CONFIRMATION_SOURCES)
def test_every_post_confirmation_source_is_answered(open_policy, source):
    event = confirm_event()
    event["triggerSource"] = source
    assert invoke(event)["response"] == {}
    assert UserProfile.objects.count() == (1 if source == CONFIRM else 0)


@pytestmark_db
def test_onboarding_queries_are_counted(acme, invite, policy, django_assert_num_queries):
    issued = invite(acme)
    sign_up_with_code(issued.code)
    # In a test the outer transaction is a savepoint (2 of these); in Lambda it is BEGIN/COMMIT.
    # profile INSERT ... ON CONFLICT 1, reserved invitation 1, acceptance 8 (savepoint, the
    # invitation and company locks, membership INSERT ... ON CONFLICT, the seat count UPDATE,
    # the profile's columns, the invitation, release), activity 1, group effect 2 and welcome
    # email 3 (outbox INSERT ... ON CONFLICT + task row, template lookup). Side effects
    # themselves run after commit and are not counted.
    with django_assert_num_queries(18):
        invoke(confirm_event())


# --- CRM webhook ----------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytestmark_db
def test_the_crm_webhook_is_posted_signed_when_configured(
    acme, invite, policy, aws, settings, django_capture_on_commit_callbacks
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.received = []
    settings.CRM_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings.CRM_WEBHOOK_SECRET = "crm-secret"
    issued = invite(acme)
    sign_up_with_code(issued.code)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            invoke(confirm_event(metadata={"source": "ads"}))
    finally:
        server.shutdown()

    ((headers, body),) = _Receiver.received
    expected = "sha256=" + hmac.new(b"crm-secret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Gatehouse-Signature"], expected)
    payload = json.loads(body)
    assert (payload["event"], payload["company"], payload["role"], payload["source"]) == (
        "user.signed_up",
        "acme",
        "USER",
        "ads",
    )
    assert headers["Idempotency-Key"] == "onboard:crm:5b2f0c1e-0000-4000-8000-00000000a11c"


@pytestmark_db
def test_no_crm_webhook_without_a_url(open_policy, settings):
    settings.CRM_WEBHOOK_URL = ""
    invoke(confirm_event())
    assert not SideEffect.objects.filter(kind=SideEffectKind.CRM_WEBHOOK).exists()


# --- The service on its own (first sign-in calls it too) ---------------------------------------------


@pytestmark_db
def test_onboarding_is_idempotent_on_the_sub(acme, invite, open_policy):
    invite(acme)
    first = profile_onboard(
        email_verified=True, sub="s-1", username="alice", email="alice@acme.com", user_pool_id="p"
    )
    again = profile_onboard(
        email_verified=True, sub="s-1", username="alice", email="other@acme.com", user_pool_id="p"
    )
    assert first.pk == again.pk
    assert again.email == "alice@acme.com"
    assert SideEffect.objects.count() == 2


@pytestmark_db
def test_onboarding_needs_a_sub():
    with pytest.raises(ValueError, match="sub"):
        profile_onboard(
            email_verified=True, sub="", username="alice", email="alice@acme.com", user_pool_id="p"
        )


@pytestmark_db
def test_an_admin_created_user_is_onboarded_into_the_bound_invitation_at_first_sign_in(acme, invite, policy):
    issued = invite(acme, "bob@acme.com", role="ADMIN")
    invoke(make_event("PreSignUp_AdminCreateUser", email="bob@acme.com", user_name="bob"))
    # Cognito sends no post confirmation for AdminCreateUser; the first sign-in runs this:
    profile = profile_onboard(
        email_verified=True, sub="sub-bob", username="bob", email="bob@acme.com", user_pool_id="p"
    )

    assert (profile.company, profile.role.key) == (acme, "ADMIN")
    assert Invitation.objects.get(pk=issued.invitation.pk).accepted_by == profile


# --- Only a proved email leads to a company (issue 13, items 1, 2 and 15) -----------------------


def unverified_confirm_event(**kwargs):
    """A confirmation whose email Cognito has not verified (auto-confirmed by a domain rule)."""
    event = confirm_event(**kwargs)
    event["request"]["userAttributes"]["email_verified"] = "false"
    return event


def federated_confirm_event(**kwargs):
    kwargs.setdefault("user_name", "acmeidp_alice")
    event = confirm_event(**kwargs)
    event["request"]["userAttributes"]["cognito:user_status"] = "EXTERNAL_PROVIDER"
    event["request"]["userAttributes"]["identities"] = json.dumps(
        [{"userId": "alice", "providerName": "AcmeIdP", "providerType": "SAML", "primary": "true"}]
    )
    return event


@pytestmark_db
def test_an_unverified_email_joins_no_company_by_domain(acme, roles, open_policy):
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True, auto_confirm=True)

    answer = invoke(unverified_confirm_event())

    assert answer["response"] == {}
    profile = UserProfile.objects.get()
    assert (profile.email, profile.company, profile.role) == ("alice@acme.com", None, None)
    assert Workspace.objects.get().kind == "personal"
    assert not SideEffect.objects.filter(kind=SideEffectKind.COGNITO_ADD_TO_GROUP).exists()


@pytestmark_db
def test_an_unverified_email_accepts_no_pending_invitation_and_migrates_no_legacy_user(
    acme, roles, invite, open_policy
):
    invite(acme, "alice@acme.com", role="ADMIN")
    LegacyUser.objects.create(
        email="bob@acme.com", password_hash="md5$x$y", company=acme, role=roles["ADMIN"]
    )

    invoke(unverified_confirm_event())
    invoke(unverified_confirm_event(email="bob@acme.com", sub="sub-bob", user_name="bob"))

    assert list(UserProfile.objects.order_by("username").values_list("username", "company", "role")) == [
        ("alice", None, None),
        ("bob", None, None),
    ]
    assert Invitation.objects.get().accepted_at is None
    assert LegacyUser.objects.get().migrated_at is None


@pytestmark_db
def test_a_federated_email_joins_no_company_by_domain_even_when_marked_verified(acme, roles, open_policy):
    CompanyDomain.objects.create(company=acme, domain="acme.com", allow_join=True)

    invoke(federated_confirm_event())

    profile = UserProfile.objects.get()
    assert (profile.username, profile.company, profile.role) == ("acmeidp_alice", None, None)


@pytestmark_db
def test_a_code_at_confirmation_proves_the_address_it_was_sent_to(acme, invite, open_policy):
    issued = invite(acme, "alice@acme.com", role="ADMIN")

    invoke(unverified_confirm_event(metadata={"invitationCode": issued.code}))

    profile = UserProfile.objects.get()
    assert (profile.company, profile.role.key) == (acme, "ADMIN")
    assert Invitation.objects.get().accepted_by == profile


@pytestmark_db
def test_a_nul_in_an_analytics_field_is_cleaned_and_onboarding_still_runs(acme, invite, policy):
    issued = invite(acme, role="ADMIN")
    sign_up_with_code(issued.code)

    answer = invoke(
        confirm_event(metadata={"source": "news\x00letter\x1b", "campaign": "x" * 3000, "referrer": 7})
    )

    assert answer["response"] == {}
    profile = UserProfile.objects.get()
    assert (profile.role.key, profile.signup_source, profile.signup_referrer) == ("ADMIN", "newsletter", "7")
    assert profile.signup_campaign == "x" * 100


@pytestmark_db
def test_a_malformed_confirmation_is_answered_like_any_other_post_confirmation_error(open_policy, caplog):
    event = confirm_event(attributes={"given_name": "Al\x00ice"})

    with caplog.at_level("WARNING", logger="gatehouse.triggers"):
        answer = invoke(event)

    assert answer["response"] == {}
    line = next(r for r in caplog.records if r.getMessage() == "trigger invocation")
    assert (line.outcome, line.reason, line.answered) == ("invalid", "MalformedEvent", True)
    assert UserProfile.objects.count() == 0


@pytestmark_db
def test_an_invitation_revoked_between_sign_up_and_confirmation_is_recorded(acme, invite, policy):
    from invites.services import invitation_revoke

    issued = invite(acme)
    sign_up_with_code(issued.code)
    invitation_revoke(invitation=issued.invitation)

    answer = invoke(confirm_event())

    assert answer["response"] == {}
    profile = UserProfile.objects.get()
    assert (profile.company, profile.role) == (None, None)
    refusal = SignupRefusal.objects.get()
    assert (refusal.reason, refusal.invitation, refusal.company, refusal.trigger_source) == (
        "invitation_revoked",
        issued.invitation,
        acme,
        "onboarding",
    )
    assert refusal.email == "alice@acme.com"
    assert refusal.detail == (
        "The invitation reserved for this user at sign-up was revoked before the confirmation; "
        "the user was onboarded without a company."
    )
