import pytest

from tenants.emails import (
    CODE_PLACEHOLDER,
    COGNITO_KEYS,
    USERNAME_PLACEHOLDER,
    TemplateProblem,
    default_source,
    render_source,
    sample_context,
    validate_template,
)
from tenants.messages import email_render
from tenants.models import Company, EmailTemplate, EmailTemplateKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("key", EmailTemplateKey.values)
def test_every_default_template_is_valid_and_keeps_cognito_placeholders(key):
    source = default_source(key)
    validate_template(
        key=key,
        subject=source.subject,
        html_body=source.html_body,
        text_body=source.text_body,
        sms_body=source.sms_body,
    )
    rendered = render_source(source, sample_context(key))
    for placeholder in COGNITO_KEYS.get(key, ()):
        assert placeholder in rendered.html_body
        assert placeholder in rendered.text_body


def test_most_specific_template_wins(acme):
    other = Company.objects.create(name="Other", slug="other")
    EmailTemplate.objects.create(
        key="welcome", language="en", subject="Global {{ company.name }}", html_body="g", text_body="g"
    )
    EmailTemplate.objects.create(
        key="welcome", language="en", company=acme, subject="Acme only", html_body="a", text_body="a"
    )

    assert email_render(key="welcome", company=acme, context={}).subject == "Acme only"
    assert email_render(key="welcome", company=other, context={}).subject == "Global Other"
    assert email_render(key="welcome", language="fr", company=acme, context={}).origin == "default"


def test_user_input_is_escaped_in_html_and_subject_cannot_break_headers(acme):
    rendered = email_render(
        key="welcome",
        company=acme,
        context={"user": {"given_name": "<script>alert(1)</script>\r\nBcc: evil@x.com", "email": "a@b.c"}},
    )
    assert "<script>" not in rendered.html_body
    assert "&lt;script&gt;" in rendered.html_body
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_a_broken_staff_template_falls_back_to_the_default(acme, caplog):
    EmailTemplate.objects.create(
        key="welcome", language="en", company=acme, subject="ok", html_body="{% if %}", text_body="x"
    )
    rendered = email_render(key="welcome", company=acme, context={})
    assert rendered.origin == "default"
    assert "failed, using the default" in caplog.text


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("{% load static %}", "not allowed"),
        ("{% debug %}", "not allowed"),
        ("{% include 'x.html' %}", "not allowed"),
        ("{% autoescape off %}{{ user.given_name }}{% endautoescape %}", "not allowed"),
        ("{{ user.given_name|safe }}", "skip escaping"),
        ("{% if %}", "syntax"),
    ],
)
def test_templates_cannot_escape_the_sandbox(html, problem):
    with pytest.raises(TemplateProblem, match=problem):
        validate_template(key="welcome", subject="s", html_body=html, text_body="t")


def test_cognito_templates_must_keep_the_code_and_username_placeholders():
    with pytest.raises(TemplateProblem) as excinfo:
        validate_template(
            key="cm_admin_create_user",
            subject="Hi",
            html_body="<p>{{ code }}</p>",
            text_body="{{ code }} {{ username }}",
        )
    assert "html_body" in excinfo.value.message_dict
    assert "{{ username }}" in excinfo.value.message_dict["html_body"][0]
    assert "text_body" not in excinfo.value.message_dict
    assert CODE_PLACEHOLDER != USERNAME_PLACEHOLDER


def test_sms_is_limited_to_140_characters():
    with pytest.raises(TemplateProblem, match="SMS allows 140"):
        validate_template(
            key="cm_sign_up",
            subject="s",
            html_body="{{ code }}",
            text_body="{{ code }}",
            sms_body="{{ code }}" + "x" * 140,
        )
