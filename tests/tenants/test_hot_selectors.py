"""The hand-written SQL of the trigger hot paths reads exactly what the ORM reads."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict

from tenants.emails import default_source
from tenants.models import EmailTemplate, UserProfile
from tenants.selectors import email_template_source, profile_with_company

pytestmark = pytest.mark.django_db

SUB = "3f1e2d3c-0000-4000-8000-0000000000aa"


def fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_profile_with_company_matches_select_related(
    acme: Any, roles: dict[str, Any], django_assert_num_queries: Any
) -> None:
    UserProfile.objects.create(
        cognito_sub=SUB,
        username="alice",
        email="alice@acme.com",
        company=acme,
        role=roles["ADMIN"],
        preferences={"theme": "dark", "language": "fr"},
    )
    expected = UserProfile.objects.select_related("company").get(cognito_sub=SUB)

    with django_assert_num_queries(1):
        profile = profile_with_company(sub=SUB)
        assert profile is not None
        company = profile.company  # loaded with the profile: no second query

    assert fields(profile) == fields(expected)
    assert fields(company) == fields(expected.company)
    assert profile.preferences == {"theme": "dark", "language": "fr"}
    assert profile._state.adding is False
    assert model_to_dict(profile) == model_to_dict(expected)


def test_profile_with_company_without_a_company_or_a_profile(
    db: None, django_assert_num_queries: Any
) -> None:
    UserProfile.objects.create(cognito_sub=SUB, username="bob", email="bob@example.com")

    with django_assert_num_queries(1):
        profile = profile_with_company(sub=SUB)
        assert profile is not None
        assert profile.company is None
    assert profile_with_company(sub="no-such-sub") is None
    with django_assert_num_queries(0):
        assert profile_with_company(sub="") is None


def test_email_template_source_prefers_the_company_then_the_language_then_the_files(acme: Any) -> None:
    common = {"html_body": "<p>{{ code }}</p>", "text_body": "{{ code }}", "sms_body": ""}
    EmailTemplate.objects.create(key="login_code", language="fr", subject="Langue", **common)
    assert email_template_source(key="login_code", language="fr", company=acme).origin == "language"
    EmailTemplate.objects.create(key="login_code", language="fr", subject="Acme", company=acme, **common)

    found = email_template_source(key="login_code", language="FR", company=acme)

    assert (found.origin, found.subject, found.language) == ("company", "Acme", "fr")
    assert email_template_source(key="login_code", language="fr", company=None).subject == "Langue"
    assert email_template_source(key="login_code", language="de", company=acme) == default_source(
        "login_code", "de"
    )


def test_compiled_templates_are_reused_and_a_refused_source_is_refused_in_every_field() -> None:
    from tenants.emails import TemplateProblem, TemplateSource, _compiled, render_source

    source = TemplateSource("k", "en", "Hi {{ user.given_name }}", "<p>{{ code }}</p>", "{{ code }}", "", "x")
    render_source(source, {"user": {"given_name": "A"}, "code": "1"})
    before = _compiled.cache_info()

    rendered = render_source(source, {"user": {"given_name": "<B>"}, "code": "2"})

    assert (rendered.subject, rendered.html_body, rendered.text_body) == ("Hi <B>", "<p>2</p>", "2")
    assert _compiled.cache_info().hits == before.hits + 3
    assert _compiled.cache_info().misses == before.misses
    bad = "{{ code|safe }}"
    for field in ("subject", "html_body"):
        with pytest.raises(TemplateProblem) as problem:
            render_source(
                TemplateSource("k", "en", bad if field == "subject" else "s", bad, "t", "", "x"),
                {"code": "<i>"},
            )
        assert list(problem.value.message_dict) == [field]
        assert "|safe is not allowed" in problem.value.message_dict[field][0]
