"""Custom message trigger: every CustomMessage_* source from the templates staff edit."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.urls import reverse

from accounts.custom_messages import CUSTOM_MESSAGE_KEYS
from tenants.models import EmailTemplate, UserProfile
from tests.triggers.helpers import make_event, reference_named
from triggers.errors import MalformedEvent
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

SUB = "5f0c6a3e-0000-4000-8000-0000000000c1"
CODE = "{####}"
USERNAME = "{username}"

# Subject and SMS of the default templates, for a user with no company (brand "Gatehouse").
DEFAULTS = {
    "CustomMessage_SignUp": ("Verify your email for Gatehouse", "Your Gatehouse verification code is {####}"),
    "CustomMessage_ResendCode": ("Your new verification code", "Your new verification code is {####}"),
    "CustomMessage_ForgotPassword": ("Reset your Gatehouse password", "Your password reset code is {####}"),
    "CustomMessage_UpdateUserAttribute": (
        "Confirm your new email address",
        "Your confirmation code is {####}",
    ),
    "CustomMessage_VerifyUserAttribute": ("Verify your email address", "Your verification code is {####}"),
    "CustomMessage_AdminCreateUser": (
        "Your Gatehouse account",
        "Username {username}, temporary password {####}",
    ),
    "CustomMessage_Authentication": ("Your sign-in code", "Your sign-in code is {####}"),
}


def message_event(source: str, **attributes: Any) -> dict[str, Any]:
    event = make_event(source, sub=SUB, attributes=attributes)
    event["request"].update(
        codeParameter=CODE, usernameParameter=USERNAME if "AdminCreate" in source else None
    )
    return event


def answer(event: dict[str, Any]) -> dict[str, Any]:
    return handler(event, None)["response"]


def test_every_source_has_a_template() -> None:
    assert set(CUSTOM_MESSAGE_KEYS) == set(DEFAULTS)


@pytest.mark.parametrize("source", sorted(DEFAULTS))
def test_every_source_keeps_cognitos_placeholders(source: str) -> None:
    response = answer(message_event(source))

    subject, sms = DEFAULTS[source]
    assert response["emailSubject"] == subject
    assert response["smsMessage"] == sms
    assert CODE in response["emailMessage"]
    assert len(response["emailMessage"]) <= 20_000
    assert len(response["smsMessage"]) <= 140
    if source == "CustomMessage_AdminCreateUser":
        assert USERNAME in response["emailMessage"]
        assert USERNAME in response["smsMessage"]


def test_a_missing_code_parameter_is_a_malformed_event() -> None:
    event = message_event("CustomMessage_SignUp")
    del event["request"]["codeParameter"]

    with pytest.raises(MalformedEvent):
        handler(event, None)


def test_admin_create_user_needs_the_username_parameter() -> None:
    event = message_event("CustomMessage_AdminCreateUser")
    event["request"]["usernameParameter"] = None

    with pytest.raises(MalformedEvent):
        handler(event, None)


def test_an_unknown_source_leaves_cognitos_message() -> None:
    event = message_event("CustomMessage_SomethingNew")
    event["response"] = {"emailSubject": "x", "emailMessage": "y", "smsMessage": "z"}

    assert answer(event) == {"emailSubject": None, "emailMessage": None, "smsMessage": None}


def test_the_profiles_language_and_company_are_used(acme: Any) -> None:
    acme.brand_display_name = "Acme Rockets"
    acme.save()
    UserProfile.objects.create(
        cognito_sub=SUB, username=SUB, email="alice@acme.com", company=acme, preferences={"language": "fr"}
    )
    EmailTemplate.objects.create(
        key="cm_forgot_password",
        language="fr",
        company=acme,
        subject="Réinitialisez votre mot de passe {{ company.display_name }}",
        html_body="<p>Votre code : {{ code }}</p>",
        text_body="Votre code : {{ code }}",
        sms_body="Code {{ company.display_name }} : {{ code }}",
    )

    # The locale attribute loses to the profile's preference.
    response = answer(message_event("CustomMessage_ForgotPassword", locale="de"))

    assert response == {
        "emailSubject": "Réinitialisez votre mot de passe Acme Rockets",
        "emailMessage": "<p>Votre code : {####}</p>",
        "smsMessage": "Code Acme Rockets : {####}",
    }


def test_without_a_profile_the_locale_attribute_picks_the_language() -> None:
    EmailTemplate.objects.create(
        key="cm_sign_up",
        language="de",
        subject="Bestätigen Sie Ihre E-Mail",
        html_body="<p>Ihr Code: {{ code }}</p>",
        text_body="Ihr Code: {{ code }}",
        sms_body="Ihr Code: {{ code }}",
    )

    german = answer(message_event("CustomMessage_SignUp", locale="de-DE"))
    english = answer(message_event("CustomMessage_SignUp"))

    assert german["emailSubject"] == "Bestätigen Sie Ihre E-Mail"
    assert german["smsMessage"] == "Ihr Code: {####}"
    assert english["emailSubject"] == "Verify your email for Gatehouse"


def test_admin_create_user_is_branded_by_the_pending_invitation(acme: Any, invite: Any) -> None:
    acme.brand_display_name = "Acme Rockets"
    acme.save()
    invite(acme, email="bob@acme.com")

    response = answer(message_event("CustomMessage_AdminCreateUser", email="bob@acme.com"))

    assert response["emailSubject"] == "Your Acme Rockets account"
    assert "An account was created for you" in response["emailMessage"]
    assert USERNAME in response["emailMessage"]
    assert CODE in response["emailMessage"]


def test_a_name_is_escaped_in_the_html() -> None:
    response = answer(message_event("CustomMessage_SignUp", given_name="<script>x</script>"))

    assert "<script>" not in response["emailMessage"]
    assert "&lt;script&gt;x&lt;/script&gt;" in response["emailMessage"]


def _broken_row(**fields: Any) -> EmailTemplate:
    # Inserted directly: the admin form would refuse every one of these.
    values = {
        "key": "cm_sign_up",
        "language": "en",
        "subject": "Welcome",
        "html_body": "<p>{{ code }}</p>",
        "text_body": "{{ code }}",
        "sms_body": "{{ code }}",
    }
    return EmailTemplate.objects.create(**(values | fields))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"html_body": "<p>{% if %}</p>"}, "Template syntax error"),
        ({"html_body": "<p>{% load static %}{{ code }}</p>"}, "is not allowed in emails"),
        ({"html_body": "<p>Your code is ready.</p>"}, "html_body lacks the code placeholder"),
        ({"sms_body": "No code here"}, "sms_body lacks the code placeholder"),
        (
            {"sms_body": '{% for x in "abcdefghijklmnopqrstuvwxyz" %}{{ code }}{% endfor %}'},
            "sms_body is longer than 140 characters",
        ),
        ({"html_body": "{{ code }}" + "x" * 20_000}, "html_body is longer than 20000 characters"),
    ],
)
def test_a_broken_staff_template_falls_back_to_the_default_and_logs_why(
    fields: dict[str, str], problem: str, caplog: Any
) -> None:
    _broken_row(**fields)

    with caplog.at_level(logging.WARNING):
        response = answer(message_event("CustomMessage_SignUp"))

    assert response["emailSubject"] == "Verify your email for Gatehouse"
    assert response["smsMessage"] == "Your Gatehouse verification code is {####}"
    assert CODE in response["emailMessage"]
    [record] = [r for r in caplog.records if r.getMessage() == "email template unusable, using the default"]
    assert record.template_key == "cm_sign_up"
    assert record.origin == "language"
    assert any(problem in text for text in record.problems), record.problems


def test_admin_create_user_without_the_username_falls_back() -> None:
    _broken_row(
        key="cm_admin_create_user",
        subject="Welcome",
        html_body="<p>Your password: {{ code }}</p>",
        sms_body="Password {{ code }}",
    )

    response = answer(message_event("CustomMessage_AdminCreateUser"))

    assert response["emailSubject"] == "Your Gatehouse account"
    assert USERNAME in response["emailMessage"]


def test_a_staff_template_with_no_sms_keeps_its_email_and_takes_the_default_sms() -> None:
    _broken_row(subject="Welcome aboard", html_body="<p>Code {{ code }}</p>", sms_body="")

    response = answer(message_event("CustomMessage_SignUp"))

    assert response == {
        "emailSubject": "Welcome aboard",
        "emailMessage": "<p>Code {####}</p>",
        "smsMessage": "Your Gatehouse verification code is {####}",
    }


def test_the_admin_refuses_a_template_without_the_placeholders(admin_client: Any) -> None:
    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_add"),
        {
            "key": "cm_admin_create_user",
            "language": "en",
            "subject": "Welcome",
            "html_body": "<p>Your password: {{ code }}</p>",
            "text_body": "Your password: {{ code }}",
            "sms_body": "Password {{ code }}",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["html_body"] == ["Must contain {{ username }}: Cognito puts the username there."]
    assert errors["sms_body"] == ["Must contain {{ username }}: Cognito puts the username there."]
    assert EmailTemplate.objects.count() == 0


def test_the_admin_refuses_a_login_code_template_without_the_code(admin_client: Any) -> None:
    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_add"),
        {
            "key": "login_code",
            "language": "en",
            "subject": "Sign in",
            "html_body": "<p>Click to sign in</p>",
            "text_body": "Your code: {{ code }}",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["html_body"] == [
        "Must contain {{ code }}: the sign-in code goes there."
    ]
    assert EmailTemplate.objects.count() == 0


def test_a_custom_message_costs_two_queries_for_a_known_user(django_assert_num_queries: Any) -> None:
    UserProfile.objects.create(cognito_sub=SUB, username=SUB, email="alice@acme.com")
    # The profile (with its company) and the template rows.
    with django_assert_num_queries(2):
        answer(message_event("CustomMessage_ForgotPassword"))


def test_a_custom_message_costs_four_queries_before_onboarding(django_assert_num_queries: Any) -> None:
    # No profile: the invitation reserved for the username, then one pending for the email.
    with django_assert_num_queries(4):
        answer(message_event("CustomMessage_SignUp"))


# --- The reference events ----------------------------------------------------------------


def test_reference_powertools_admin_create_user_event() -> None:
    # codeParameter "####" and usernameParameter "username", as published.
    response = answer(reference_named("powertools-python__cognitoCustomMessageEvent.json"))

    assert response["emailSubject"] == "Your Gatehouse account"
    assert response["smsMessage"] == "Username username, temporary password ####"
    assert "####" in response["emailMessage"]


@pytest.mark.parametrize(
    "name",
    [
        "aws-lambda-dotnet__cognito-custommessage-event.json",
        "aws-lambda-go__cognito-event-userpools-custommessage.json",
    ],
)
def test_reference_sign_up_events(name: str) -> None:
    event = reference_named(name)

    response = answer(event)

    code = event["request"]["codeParameter"]
    assert response["emailSubject"] == "Verify your email for Gatehouse"
    assert response["smsMessage"] == f"Your Gatehouse verification code is {code}"
    assert code in response["emailMessage"]
