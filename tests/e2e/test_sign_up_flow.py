"""Sign-up, sign-in and password reset through cognito-local, driven with boto3 as an app would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import CONFIRMATION_CODE, CognitoLocal, Pool, jwt_claims

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-horse-battery-9"


@pytest.fixture
def staff(transactional_db: None, django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-for-tests-only")


@pytest.fixture
def company(transactional_db: None) -> Any:
    from tenants.models import Company, FeatureFlag

    FeatureFlag.objects.create(key="reports", default_enabled=True)
    return Company.objects.create(name="Acme", slug="acme", subscription_tier="pro", seat_limit=10)


@pytest.fixture
def admin_role(transactional_db: None) -> Any:
    from tenants.models import Role

    return Role.objects.create(
        key="ADMIN", name="Administrator", permissions=["users:invite", "profile:read"], cognito_group="ADMIN"
    )


def _invite(*, company: Any, role: Any, staff: Any, email: str) -> str:
    from invites.services import invitation_create

    return invitation_create(company=company, email=email, role=role, created_by=staff).code


def _signed_up_and_confirmed(pool: Pool, *, email: str, code: str) -> dict[str, Any]:
    answer = pool.sign_up(email, PASSWORD, invitationCode=code)
    if not answer["UserConfirmed"]:
        pool.cognito.confirm_sign_up(
            ClientId=pool.client_id, Username=email, ConfirmationCode=CONFIRMATION_CODE
        )
    return answer


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_an_invited_sign_up_is_confirmed_and_its_id_token_carries_gatehouse_claims(
    pool: Pool, aws: Any, staff: Any, company: Any, admin_role: Any
) -> None:
    from tenants.models import UserProfile

    # cognito-local answers a missing group with HTTP 500, not ResourceNotFoundException, so the
    # outbox's create-the-group-then-retry path cannot run against it: the group exists already.
    pool.cognito.create_group(UserPoolId=pool.id, GroupName="ADMIN")
    code = _invite(company=company, role=admin_role, staff=staff, email="ada@acme.test")

    answer = _signed_up_and_confirmed(pool, email="ada@acme.test", code=code)
    tokens = pool.sign_in("ada@acme.test", PASSWORD)["AuthenticationResult"]

    claims = jwt_claims(tokens["IdToken"])
    assert claims["sub"] == answer["UserSub"]
    assert claims["custom:companyId"] == str(company.pk)
    assert claims["custom:role"] == "ADMIN"
    assert json.loads(claims["custom:permissions"]) == ["profile:read", "users:invite"]
    assert json.loads(claims["custom:features"]) == ["reports"]
    profile = UserProfile.objects.get(cognito_sub=answer["UserSub"])
    assert (profile.company_id, profile.role_id) == (company.pk, admin_role.pk)
    # Onboarding's side effects reached the emulated AWS: the Cognito group and the welcome email.
    groups = pool.cognito.admin_list_groups_for_user(UserPoolId=pool.id, Username=profile.username)
    assert [g["GroupName"] for g in groups["Groups"]] == ["ADMIN"]
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["ada@acme.test"]]


def test_a_code_used_by_its_invitee_cannot_be_used_again(
    pool: Pool, staff: Any, company: Any, admin_role: Any
) -> None:
    """Single use, end to end: the same address, the same code, a second Cognito user.

    The pool keys users on the email, so the first user must go (deleted by an operator, or
    by the user) before Cognito lets the address sign up again; only Gatehouse's record of the
    accepted invitation can then refuse the code. The email matches, so this is not the
    different-address refusal of the next test.
    """
    from accounts.sign_up import SIGNUP_MESSAGES
    from invites.models import Invitation, RefusalReason, SignupRefusal
    from tenants.models import UserProfile

    pool.cognito.create_group(UserPoolId=pool.id, GroupName="ADMIN")  # see the first test
    code = _invite(company=company, role=admin_role, staff=staff, email="ada@acme.test")
    first = _signed_up_and_confirmed(pool, email="ada@acme.test", code=code)
    ada = UserProfile.objects.get(cognito_sub=first["UserSub"])
    pool.cognito.admin_delete_user(UserPoolId=pool.id, Username="ada@acme.test")

    with pytest.raises(ClientError) as caught:
        pool.sign_up("ada@acme.test", PASSWORD, invitationCode=code)

    message = SIGNUP_MESSAGES[RefusalReason.INVITATION_USED]
    assert _error(caught) == ("UserLambdaValidationException", f"PreSignUp failed with error {message}.")
    assert pool.cognito.list_users(UserPoolId=pool.id)["Users"] == []
    assert list(UserProfile.objects.all()) == [ada]
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.status) == (ada, "accepted")
    assert list(SignupRefusal.objects.values_list("reason", "email", "invitation")) == [
        (RefusalReason.INVITATION_USED, "ada@acme.test", invitation.pk)
    ]


def test_a_code_given_by_another_address_is_refused_with_our_message(
    pool: Pool, staff: Any, company: Any, admin_role: Any
) -> None:
    from accounts.sign_up import SIGNUP_MESSAGES
    from invites.models import RefusalReason
    from tenants.models import UserProfile

    code = _invite(company=company, role=admin_role, staff=staff, email="ada@acme.test")
    _signed_up_and_confirmed(pool, email="ada@acme.test", code=code)

    with pytest.raises(ClientError) as caught:
        pool.sign_up("eve@acme.test", PASSWORD, invitationCode=code)

    message = SIGNUP_MESSAGES[RefusalReason.INVITATION_EMAIL_MISMATCH]
    assert _error(caught) == ("UserLambdaValidationException", f"PreSignUp failed with error {message}.")
    users = pool.cognito.list_users(UserPoolId=pool.id)["Users"]
    assert [{a["Name"]: a["Value"] for a in user["Attributes"]}["email"] for user in users] == [
        "ada@acme.test"
    ]
    assert list(UserProfile.objects.values_list("email", flat=True)) == ["ada@acme.test"]


def test_a_sign_up_from_a_domain_outside_the_allowlist_is_refused(pool: Pool) -> None:
    from accounts.sign_up import SIGNUP_MESSAGES
    from invites.models import RefusalReason, SignupPolicy, SignupRefusal

    SignupPolicy.objects.update_or_create(pk=1, defaults={"domain_allowlist": ["acme.test"]})

    with pytest.raises(ClientError) as caught:
        pool.sign_up("mallory@elsewhere.test", PASSWORD)

    message = SIGNUP_MESSAGES[RefusalReason.DOMAIN_NOT_ALLOWED]
    assert _error(caught) == ("UserLambdaValidationException", f"PreSignUp failed with error {message}.")
    assert pool.cognito.list_users(UserPoolId=pool.id)["Users"] == []
    assert list(SignupRefusal.objects.values_list("reason", flat=True)) == [RefusalReason.DOMAIN_NOT_ALLOWED]


def test_a_suspended_user_is_disabled_in_the_pool_and_refused_by_pre_authentication(
    pool: Pool, cognito_local: CognitoLocal, staff: Any, company: Any, admin_role: Any
) -> None:
    from accounts.sign_in import SIGN_IN_MESSAGES
    from invites.models import RefusalReason
    from tenants.models import UserProfile
    from tenants.services import profile_suspend

    code = _invite(company=company, role=admin_role, staff=staff, email="ada@acme.test")
    answer = _signed_up_and_confirmed(pool, email="ada@acme.test", code=code)
    profile = UserProfile.objects.get(cognito_sub=answer["UserSub"])

    profile_suspend(profile=profile, actor=staff, reason="left the company")

    # The outbox's inline attempt disabled the user in the pool: real Cognito refuses them there.
    assert pool.cognito.admin_get_user(UserPoolId=pool.id, Username=profile.username)["Enabled"] is False
    # cognito-local neither enforces Enabled nor calls pre authentication, so it still issues
    # tokens; Gatehouse's pre token generation gives a suspended user no role or permissions.
    claims = jwt_claims(pool.sign_in("ada@acme.test", PASSWORD)["AuthenticationResult"]["IdToken"])
    assert ("custom:role" in claims, "custom:permissions" in claims) == (False, False)
    # Pre authentication, called through the same Lambda endpoint with the event Cognito sends.
    event = {
        "version": "1",
        "triggerSource": "PreAuthentication_Authentication",
        "region": "us-east-1",
        "userPoolId": pool.id,
        "userName": profile.username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": pool.client_id},
        "request": {
            "userAttributes": {"sub": answer["UserSub"], "email": "ada@acme.test", "email_verified": "true"},
            "validationData": {},
        },
        "response": {},
    }
    response = cognito_local.lambda_client().invoke(
        FunctionName="PreAuthentication", Payload=json.dumps(event)
    )
    assert response["FunctionError"] == "Unhandled"
    assert (
        json.loads(response["Payload"].read())["errorMessage"]
        == SIGN_IN_MESSAGES[RefusalReason.USER_SUSPENDED]
    )


def test_a_forgotten_password_code_arrives_rendered_from_the_staff_edited_template(
    pool: Pool, cognito_local: CognitoLocal, staff: Any, company: Any, admin_role: Any
) -> None:
    from tenants.models import EmailTemplate

    code = _invite(company=company, role=admin_role, staff=staff, email="ada@acme.test")
    _signed_up_and_confirmed(pool, email="ada@acme.test", code=code)
    EmailTemplate.objects.create(
        key="cm_forgot_password",
        language="en",
        subject="Your {{ company.display_name }} reset code",
        html_body="<p>Staff edited: your code is <b>{{ code }}</b></p>",
        text_body="Staff edited: your code is {{ code }}",
        sms_body="Reset code {{ code }}",
        updated_by=staff,
    )

    delivered_before = len(cognito_local.deliveries())
    pool.cognito.forgot_password(ClientId=pool.client_id, Username="ada@acme.test")

    delivery = cognito_local.wait_for_delivery(after=delivered_before)
    assert delivery["Destination"] == "ada@acme.test"
    assert delivery["Email Subject"] == "Your Acme reset code"
    # Gatehouse renders Cognito's {####} placeholder where the code goes; Cognito (and
    # cognito-local) put the code in its place.
    assert delivery["Email Message"] == f"<p>Staff edited: your code is <b>{CONFIRMATION_CODE}</b></p>"
    assert delivery["Code"] == CONFIRMATION_CODE
    pool.cognito.confirm_forgot_password(
        ClientId=pool.client_id,
        Username="ada@acme.test",
        ConfirmationCode=CONFIRMATION_CODE,
        Password="New-pass-77x",
    )
    assert "AuthenticationResult" in pool.sign_in("ada@acme.test", "New-pass-77x")
