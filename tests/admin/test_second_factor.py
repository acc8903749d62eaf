"""The admin's second factor: password, then enrol or verify a TOTP code; nothing opens without it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.otp import force_login_verified, totp_code, wrong_code

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-second-factor-tests"
VERIFY = "/admin/second-factor/"
ENROL = "/admin/second-factor/enrol/"


@pytest.fixture
def staff(staff_groups: None, django_user_model: Any) -> Any:
    from django.contrib.auth.models import Group

    from tenants.staff import SUPPORT

    user = django_user_model.objects.create_user("sam", "sam@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT))
    return user


@pytest.fixture
def device(staff: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)


def _password_login(client: Client, next_url: str = "/admin/") -> Any:
    """The admin's login form with the right password: a session with no second factor yet."""
    return client.post(
        f"/admin/login/?next={next_url}", {"username": "sam", "password": PASSWORD, "next": next_url}
    )


def _is_verified(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def every_admin_path() -> list[str]:
    """Every URL the admin site and backoffice/urls.py serve under /admin/, arguments filled with 1."""
    root = get_resolver()
    prefix, site = root.namespace_dict["admin"]
    paths = set()
    for resolver, base in ((site, "/" + prefix), (root, "/")):
        for key in list(resolver.reverse_dict):
            if not isinstance(key, str):
                continue
            for bits, _pattern, _defaults, _converters in resolver.reverse_dict.getlist(key):
                for result, params in bits:
                    paths.add(base + result % dict.fromkeys(params, "1"))
    return sorted(p for p in paths if p.startswith("/admin/"))


NOT_GATED = {"/admin/login/", "/admin/logout/", VERIFY, ENROL}


def test_an_unverified_staff_session_is_sent_to_the_second_factor_from_every_admin_page(
    client: Client, staff: Any, device: TOTPDevice
) -> None:
    _password_login(client)
    paths = [p for p in every_admin_path() if p not in NOT_GATED]
    # The walk is real: the model admins' pages, the dashboard, try-a-trigger, the catch-all.
    assert len(paths) > 100
    assert {
        "/admin/",
        "/admin/dashboard/",
        "/admin/try-trigger/",
        "/admin/tenants/userprofile/1/change/",
    } < set(paths)

    answers = {path: (client.get(path).status_code, client.get(path).get("Location", "")) for path in paths}

    assert {path: answer for path, answer in answers.items() if not answer[1].startswith(VERIFY)} == {}
    assert {status for status, _ in answers.values()} == {302}
    assert answers["/admin/tenants/company/"] == (302, f"{VERIFY}?next=/admin/tenants/company/")


def test_posting_to_an_admin_page_without_the_second_factor_changes_nothing(
    client: Client, staff: Any, device: TOTPDevice, member: Any
) -> None:
    _password_login(client)

    response = client.post(reverse("admin:tenants_userprofile_suspend", args=[member.pk]), {"reason": "x"})

    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    member.refresh_from_db()
    assert member.status == "active"


def test_the_login_page_sends_a_password_only_session_on_to_the_second_factor(
    client: Client, staff: Any, device: TOTPDevice
) -> None:
    answer = _password_login(client, "/admin/tenants/company/")
    assert (answer.status_code, answer["Location"]) == (302, "/admin/tenants/company/")
    assert client.get("/admin/tenants/company/")["Location"] == f"{VERIFY}?next=/admin/tenants/company/"

    again = client.get("/admin/login/?next=/admin/dashboard/")

    assert (again.status_code, again["Location"]) == (302, f"{VERIFY}?next=/admin/dashboard/")


def test_anonymous_visitors_still_get_the_login_page(client: Client) -> None:
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert client.get(VERIFY)["Location"] == f"/admin/login/?next={VERIFY}"
    assert client.get(ENROL)["Location"] == f"/admin/login/?next={ENROL}"


def test_first_login_enrols_a_device_and_shows_recovery_codes_once(client: Client, staff: Any) -> None:
    _password_login(client, "/admin/invites/invitation/")

    assert client.get(f"{VERIFY}?next=/admin/invites/invitation/")["Location"] == (
        f"{ENROL}?next=%2Fadmin%2Finvites%2Finvitation%2F"
    )
    page = client.get(ENROL)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    pending = TOTPDevice.objects.get(user=staff)
    assert pending.confirmed is False
    html = page.content.decode()
    assert pending.config_url.replace("&", "&amp;") in html
    assert pending.config_url.startswith("otpauth://totp/Gatehouse%3Asam?secret=")
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code, allowed by img-src data:
    # The admin's own frame: the login page's look.
    assert 'id="content-main"' in html
    assert "admin/css/login.css" in html

    wrong = client.post(ENROL, {"code": wrong_code(pending)})
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["code"][0].startswith("That code is not right")
    assert TOTPDevice.objects.get(user=staff).confirmed is False
    # A wrong code waits out its throttle like any other.
    TOTPDevice.objects.filter(pk=pending.pk).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )

    done = client.post(ENROL, {"code": totp_code(pending), "next": "/admin/invites/invitation/"})

    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    assert TOTPDevice.objects.get(user=staff).confirmed is True
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert sorted(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == sorted(
        codes
    )
    assert 'href="/admin/invites/invitation/"' in done.content.decode()
    assert _is_verified(client)
    # Enrolment is over: the page now leads on, and no second device appears.
    assert client.get(ENROL).status_code == 302
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_a_password_alone_cannot_enrol_a_device_next_to_a_confirmed_one(
    client: Client, staff: Any, device: TOTPDevice
) -> None:
    _password_login(client)

    answer = client.get(ENROL)

    assert (answer.status_code, answer["Location"]) == (302, f"{VERIFY}?")
    assert client.post(ENROL, {"code": "123456"})["Location"].startswith(VERIFY)
    assert list(TOTPDevice.objects.filter(user=staff).values_list("pk", "confirmed")) == [(device.pk, True)]


def test_the_right_code_verifies_the_session_and_goes_on_to_next(
    client: Client, staff: Any, device: TOTPDevice
) -> None:
    _password_login(client)
    before = client.cookies["sessionid"].value

    answer = client.post(VERIFY, {"code": totp_code(device), "next": "/admin/tenants/company/"})

    assert (answer.status_code, answer["Location"]) == (302, "/admin/tenants/company/")
    assert client.get("/admin/tenants/company/").status_code == 200
    # A new session key once the second factor is proved (no session fixation).
    assert client.cookies["sessionid"].value != before


def test_next_never_leaves_the_site(client: Client, staff: Any, device: TOTPDevice) -> None:
    _password_login(client)

    answer = client.post(VERIFY, {"code": totp_code(device), "next": "https://evil.example/admin/"})

    assert answer["Location"] == "/admin/"


def test_a_wrong_code_is_refused(client: Client, staff: Any, device: TOTPDevice) -> None:
    _password_login(client)
    wrong = wrong_code(device)

    answer = client.post(VERIFY, {"code": wrong})

    assert answer.status_code == 200
    assert answer.context["form"].errors == {"code": ["That code is not right."]}
    assert not _is_verified(client)
    assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == 1


def test_a_code_is_good_once(client: Client, staff: Any, device: TOTPDevice) -> None:
    code = totp_code(device)
    _password_login(client)
    assert client.post(VERIFY, {"code": code})["Location"] == "/admin/"
    client.post("/admin/logout/")

    _password_login(client)
    replay = client.post(VERIFY, {"code": code})

    assert replay.status_code == 200
    assert not _is_verified(client)


def test_codes_are_throttled_after_a_wrong_one(
    client: Client, staff: Any, device: TOTPDevice, settings
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    _password_login(client)
    client.post(VERIFY, {"code": wrong_code(device)})

    # Even the right code waits until the throttle has passed (django-otp's ThrottlingMixin).
    answer = client.post(VERIFY, {"code": totp_code(device)})

    assert answer.status_code == 200
    [error] = answer.context["form"].errors["code"]
    assert re.fullmatch(r"Too many wrong codes: wait (59|60) seconds and try again\.", error)
    assert not _is_verified(client)
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert client.post(VERIFY, {"code": totp_code(device)})["Location"] == "/admin/"


def test_a_recovery_code_works_once(client: Client, staff: Any, device: TOTPDevice) -> None:
    from backoffice.otp import recovery_codes_issue

    codes = recovery_codes_issue(user=staff)
    _password_login(client)

    used = client.post(VERIFY, {"code": codes[3].upper()})  # as printed, in any case

    assert used["Location"] == "/admin/"
    assert _is_verified(client)
    assert StaticToken.objects.filter(device__user=staff).count() == 9
    client.post("/admin/logout/")
    _password_login(client)
    again = client.post(VERIFY, {"code": codes[3]})
    assert again.context["form"].errors == {"code": ["That code is not right."]}
    assert not _is_verified(client)


def test_recovery_codes_are_throttled_too(client: Client, staff: Any, device: TOTPDevice, settings) -> None:
    from backoffice.otp import recovery_codes_issue

    settings.OTP_STATIC_THROTTLE_FACTOR = 60
    codes = recovery_codes_issue(user=staff)
    _password_login(client)
    client.post(VERIFY, {"code": "notacode"})

    answer = client.post(VERIFY, {"code": codes[0]})

    assert answer.context["form"].errors["code"][0].startswith("Too many wrong codes")
    assert StaticDevice.objects.get(user=staff).token_set.count() == 10
    # Each device keeps its own count: the TOTP code is still accepted.
    assert client.post(VERIFY, {"code": totp_code(device)})["Location"] == "/admin/"


def test_logout_works_without_the_second_factor(client: Client, staff: Any, device: TOTPDevice) -> None:
    _password_login(client)

    answer = client.post("/admin/logout/")

    assert answer.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get(VERIFY)["Location"] == f"/admin/login/?next={VERIFY}"


def test_another_users_device_does_not_verify_a_session(
    client: Client, staff: Any, device: TOTPDevice, django_user_model: Any
) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY

    other = django_user_model.objects.create_user("ada", is_staff=True, is_superuser=True)
    other_device = force_login_verified(Client(), other)
    _password_login(client)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = other_device.persistent_id
    session.save()

    assert not _is_verified(client)


def test_the_helper_gives_a_verified_session(client: Client, staff: Any) -> None:
    force_login_verified(client, staff)

    assert client.get("/admin/").status_code == 200
