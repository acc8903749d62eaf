"""Staff templates cannot make a render huge or slow (issue 13, item 11)."""

from __future__ import annotations

import pytest

from tenants.emails import TemplateProblem, TemplateSource, render_source, validate_template
from tenants.messages import user_email_context

LONG_NAME = "N" * 2048


def source(html: str) -> TemplateSource:
    return TemplateSource("welcome", "en", "Hi", html, "text", "", "company")


def test_a_huge_literal_width_is_refused_on_save_with_the_reason():
    with pytest.raises(TemplateProblem) as refused:
        validate_template(key="welcome", subject="Hi", html_body='{{ "x"|ljust:"50000000" }}', text_body="t")
    assert refused.value.message_dict["html_body"] == [
        "|ljust:50000000 is larger than 200, the most an email allows."
    ]


@pytest.mark.parametrize(
    ("html", "longest"),
    [
        ("{{ user.given_name|ljust:width }}", 200),
        ("{{ user.given_name|center:width }}", 200),
        ('{{ user.given_name|stringformat:"50000000s" }}', 0),
        ("{{ user.given_name|make_list|length }}", 1),  # "3": three letters, one digit printed
    ],
)
def test_a_size_from_the_context_is_capped_at_render(html, longest):
    rendered = render_source(source(html), {"user": {"given_name": "abc"}, "width": 50_000_000})
    assert len(rendered.html_body) == longest


def test_a_name_cannot_be_looped_over_letter_by_letter():
    nested = (
        "{% for a in user.given_name %}{% for b in user.given_name %}{% for c in user.given_name %}"
        "x{% endfor %}{% endfor %}{% endfor %}[{{ user.given_name|length }}]"
    )
    rendered = render_source(source(nested), {"user": {"given_name": LONG_NAME}})
    # Nothing is iterated; the name itself still prints and measures.
    assert rendered.html_body == "[2048]"


def test_names_from_an_event_are_cut_to_the_profile_s_columns():
    context = user_email_context(None, given_name=LONG_NAME, family_name=LONG_NAME, email="a@b.test")
    assert (len(context["given_name"]), len(context["family_name"])) == (100, 100)


def test_ordinary_filters_and_loops_still_work():
    html = (
        "{% for f in features %}{{ f|upper }};{% endfor %}"
        "{{ user.given_name|ljust:6 }}|{{ 3.14159|floatformat:2 }}"
    )
    rendered = render_source(source(html), {"features": ["a", "b"], "user": {"given_name": "Ann"}})
    assert rendered.html_body == "A;B;Ann   |3.14"
