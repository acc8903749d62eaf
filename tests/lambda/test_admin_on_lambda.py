"""The admin through mangum, with real-shaped HTTP API (payload 2.0) and Function URL events."""

from __future__ import annotations

import re
from typing import Any

# `lambda_admin` is tests/lambda/conftest.py's LambdaAdmin ("lambda" cannot be imported by name).
LambdaAdmin = Any


PASSWORD = "Staff-pass-for-lambda-tests-1"


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match[1]


def _staff(django_user_model: Any) -> Any:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return user


def _log_in_with_password(admin: LambdaAdmin) -> Any:
    page = admin.get(f"{admin.prefix}/admin/login/?next={admin.prefix}/admin/")
    return admin.post(
        "/admin/login/",
        {
            "csrfmiddlewaretoken": _csrf_token(page.text),
            "username": "staff",
            "password": PASSWORD,
            "next": f"{admin.prefix}/admin/",
        },
        query=f"next={admin.prefix}/admin/",
    )


def _second_factor(admin: LambdaAdmin, code: str | None = None) -> Any:
    """The verify page through the function, answered with the device's current code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.otp import totp_code

    page = admin.get(f"{admin.prefix}/admin/second-factor/?next={admin.prefix}/admin/")
    assert page.status == 200, page.text[:500]
    return admin.post(
        "/admin/second-factor/",
        {
            "csrfmiddlewaretoken": _csrf_token(page.text),
            "code": code or totp_code(TOTPDevice.objects.get(user__username="staff")),
            "next": f"{admin.prefix}/admin/",
        },
        query=f"next={admin.prefix}/admin/",
    )


def _log_in(admin: LambdaAdmin) -> Any:
    _log_in_with_password(admin)
    return _second_factor(admin)


def test_the_login_page_renders_with_a_stylesheet_the_function_serves(lambda_admin: LambdaAdmin) -> None:
    page = lambda_admin.get(f"{lambda_admin.prefix}/admin/login/")

    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    action = f'<form action="{lambda_admin.prefix}/admin/login/" method="post" id="login-form">'
    assert action in page.text
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    base_css = next(href for href in stylesheets if "/admin/css/base." in href)
    # Hashed by the manifest storage, under the stage prefix.
    assert re.fullmatch(rf"{lambda_admin.prefix}/static/admin/css/base\.[0-9a-f]{{12}}\.css", base_css)

    css = lambda_admin.get(base_css)

    assert css.status == 200
    assert css.headers["content-type"].startswith("text/css")
    assert b"body" in css.body
    # WhiteNoise's far-future caching for hashed names.
    assert css.headers["cache-control"] == "max-age=315360000, public, immutable"


def test_the_csrf_cookie_is_secure_behind_the_https_proxy(lambda_admin: LambdaAdmin) -> None:
    page = lambda_admin.get(f"{lambda_admin.prefix}/admin/login/")

    csrf_cookie = next(c for c in page.cookies if c.startswith("csrftoken="))
    assert "Secure" in csrf_cookie
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")


def test_a_staff_login_with_csrf_works_across_two_events(
    lambda_admin: LambdaAdmin, django_user_model: Any
) -> None:
    _staff(django_user_model)

    answer = _log_in_with_password(lambda_admin)

    assert answer.status == 302
    assert answer.headers["location"] == f"{lambda_admin.prefix}/admin/"
    session_cookie = next(c for c in answer.cookies if c.startswith("sessionid="))
    assert ("Secure" in session_cookie, "HttpOnly" in session_cookie) == (True, True)


def test_the_second_factor_works_through_the_function(
    lambda_admin: LambdaAdmin, django_user_model: Any
) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.otp import wrong_code

    _staff(django_user_model)
    _log_in_with_password(lambda_admin)
    prefix = lambda_admin.prefix

    # A password alone opens nothing: the stage-prefixed verify page, next kept.
    held = lambda_admin.get(f"{prefix}/admin/tenants/company/")
    assert (held.status, held.headers["location"]) == (
        302,
        f"{prefix}/admin/second-factor/?next={prefix}/admin/tenants/company/",
    )
    device = TOTPDevice.objects.get(user__username="staff")
    wrong = _second_factor(lambda_admin, code=wrong_code(device))
    assert (wrong.status, "That code is not right." in wrong.text) == (200, True)
    assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == 1

    # django-otp throttles after the wrong code (1 s at factor 1): let it pass, not the clock.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    answer = _second_factor(lambda_admin)

    assert (answer.status, answer.headers["location"]) == (302, f"{prefix}/admin/")
    # The session key changed with the second factor, and the new cookie is as strict.
    session_cookie = next(c for c in answer.cookies if c.startswith("sessionid="))
    assert ("Secure" in session_cookie, "HttpOnly" in session_cookie) == (True, True)
    assert lambda_admin.get(f"{prefix}/admin/").status == 200
    assert lambda_admin.get(f"{prefix}/admin/tenants/company/").status == 200


def test_a_login_post_without_the_csrf_cookie_is_refused(
    lambda_admin: LambdaAdmin, django_user_model: Any
) -> None:
    _staff(django_user_model)

    answer = lambda_admin.post("/admin/login/", {"username": "staff", "password": PASSWORD})

    assert answer.status == 403
    assert "sessionid" not in lambda_admin.jar


def test_a_changelist_renders_for_the_logged_in_user(
    lambda_admin: LambdaAdmin, django_user_model: Any
) -> None:
    from tenants.models import Company

    _staff(django_user_model)
    Company.objects.create(name="Acme Lambda", slug="acme-lambda")
    _log_in(lambda_admin)

    page = lambda_admin.get(f"{lambda_admin.prefix}/admin/tenants/company/")

    assert page.status == 200
    assert "Acme Lambda" in page.text
    assert f'href="{lambda_admin.prefix}/admin/tenants/company/' in page.text


def test_an_anonymous_changelist_redirects_to_the_login_under_the_prefix(lambda_admin: LambdaAdmin) -> None:
    answer = lambda_admin.get(f"{lambda_admin.prefix}/admin/tenants/company/")

    assert answer.status == 302
    assert answer.headers["location"] == (
        f"{lambda_admin.prefix}/admin/login/?next={lambda_admin.prefix}/admin/tenants/company/"
    )
