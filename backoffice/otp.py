"""The admin's second factor: every staff account proves a TOTP code (or a recovery code).

Every staff account can see personal data (Support opens user profiles), so every staff
session needs a second factor, not only Administrators'. The flow, all inside the admin:

1. `/admin/login/`: username and password (Django's form, throttled by django-axes).
2. No confirmed TOTP device yet: `/admin/second-factor/enrol/` shows the otpauth:// URI (and
   its QR code) of a new, unconfirmed device; a correct code confirms it, makes ten recovery
   codes (django-otp's static device), shown once, and verifies the session.
3. Otherwise `/admin/second-factor/`: a 6-digit TOTP code or a recovery code (used once).
4. Every other admin page refuses a session that has not done 2 or 3
   (SecondFactorAdminSite.admin_view and has_permission).

Wrong codes are throttled per device by django-otp (OTP_*_THROTTLE_FACTOR: 1, 2, 4, ... s
after each failure), on top of django-axes for the password. A session that has a password
but no second factor can never enrol a new device while a confirmed one exists: a lost
device is removed by a superuser (TOTP devices in the admin) and the owner enrols again.

Loaded by the admin function only: the trigger settings install neither django_otp nor
this site (backoffice/settings_triggers.py, tests/lambda/test_trigger_import_path.py).
"""

from __future__ import annotations

import io
import re
from base64 import b32encode
from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar, cast

import django_otp
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
_TOTP_SHAPE = re.compile(r"[0-9]{6}")
_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


def staff_needs_second_factor(request: HttpRequest) -> bool:
    """An active staff member signed in with a password whose session has no verified device."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    # Without OTPMiddleware there is no is_verified: count the session as unverified.
    is_verified: Callable[[], bool] = getattr(user, "is_verified", lambda: False)
    return not is_verified()


class SecondFactorAdminSite(admin.AdminSite):
    """Django's admin site that also requires the session's second factor (django-otp)."""

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not staff_needs_second_factor(request)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        # The top bar links the mailbox only when make run's local SES is there (staff/mailbox.py).
        context["local_mailbox"] = bool(settings.LOCAL_AWS_URL) and not settings.PRODUCTION
        return context

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        inner = super().admin_view(view, cacheable)

        def gate(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            # A password alone opens nothing but the second-factor pages and logout. Django's
            # own check would send the user back to the login form instead, in a loop.
            if staff_needs_second_factor(request):
                if request.path == reverse("admin:logout", current_app=self.name):
                    # Django's check would answer logout with the index (has_permission is
                    # False), leaving the half-signed-in session alive.
                    return never_cache(view)(request, *args, **kwargs)
                return redirect_to_login(
                    request.get_full_path(), reverse("admin:otp_verify", current_app=self.name)
                )
            return inner(request, *args, **kwargs)

        return cast("_View", update_wrapper(gate, inner))

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET" and staff_needs_second_factor(request):
            return redirect_to_login(
                _next_url(request, self.name), reverse("admin:otp_verify", current_app=self.name)
            )
        return super().login(request, extra_context)

    def get_urls(self) -> list[Any]:
        # Not wrapped in admin_view: these are the pages an unverified session may open.
        return [
            path("second-factor/", _second_factor_view(self, verify_view), name="otp_verify"),
            path("second-factor/enrol/", _second_factor_view(self, enrol_view), name="otp_enrol"),
            *super().get_urls(),
        ]


def _second_factor_view(site: SecondFactorAdminSite, view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    def wrapped(request: HttpRequest) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=site.name))
        if not staff_needs_second_factor(request):
            return HttpResponseRedirect(_next_url(request, site.name))
        request.current_app = site.name
        return view(site, request)

    return update_wrapper(never_cache(csrf_protect(wrapped)), view)


def _next_url(request: HttpRequest, site_name: str) -> str:
    """The page to go on to: `next` if it is ours, else the admin index."""
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index", current_app=site_name)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text", "size": 12}
        ),
    )

    def clean_code(self) -> str:
        # Authenticator apps show "123 456"; recovery codes are printed in lower case.
        return re.sub(r"[\s-]", "", self.cleaned_data["code"]).lower()


def _page(
    site: SecondFactorAdminSite, request: HttpRequest, template: str, **context: Any
) -> TemplateResponse:
    full = {
        **site.each_context(request),
        "title": "Second factor",
        REDIRECT_FIELD_NAME: _next_url(request, site.name),
        **context,
    }
    # Enrolment shows a device secret, the recovery page the codes: _second_factor_view's
    # never_cache sends them with Cache-Control: no-store.
    return TemplateResponse(request, template, full)


def _throttled_message(device: Any) -> str:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return ""
    locked_until = (data or {}).get("locked_until")
    if locked_until is None:
        return "This device may not be used now."
    seconds = max(1, int((locked_until - timezone.now()).total_seconds() + 0.999))
    return f"Too many wrong codes: wait {seconds} seconds and try again."


def _verified(request: HttpRequest, device: Any) -> None:
    """Mark the session verified by `device`, under a new session key (no fixation)."""
    request.session.cycle_key()
    django_otp.login(request, device)


def verify_view(site: SecondFactorAdminSite, request: HttpRequest) -> HttpResponse:
    """Ask a TOTP code, or a recovery code (each works once)."""
    user = request.user
    totp = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if totp is None:
        return HttpResponseRedirect(
            f"{reverse('admin:otp_enrol', current_app=site.name)}?" + request.GET.urlencode()  # keeps ?next=
        )
    recovery = StaticDevice.objects.devices_for_user(user, confirmed=True).first()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        # The code's shape picks the device, so a mistyped TOTP code does not also count
        # against the recovery codes (each device throttles its own failures).
        device = totp if _TOTP_SHAPE.fullmatch(code) else recovery
        if device is None:
            form.add_error("code", "Enter the 6-digit code from your authenticator app.")
        elif message := _throttled_message(device):
            form.add_error("code", message)
        # django_otp.verify_token locks the device row: two requests cannot both use a code.
        elif (verified := django_otp.verify_token(user, device.persistent_id, code)) is None:
            form.add_error("code", "That code is not right.")
        else:
            _verified(request, verified)
            if isinstance(verified, StaticDevice):
                left = verified.token_set.count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. "
                    "Ask a superuser to reset your authenticator if you lost it.",
                )
            return HttpResponseRedirect(_next_url(request, site.name))
    return _page(site, request, "admin/otp/verify.html", form=form, subtitle="Enter a code")


def enrol_view(site: SecondFactorAdminSite, request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: show the new device's URI, confirm it with a code."""
    user = request.user
    if TOTPDevice.objects.devices_for_user(user, confirmed=True).exists():
        # A password alone never adds a device next to a confirmed one.
        return HttpResponseRedirect(
            f"{reverse('admin:otp_verify', current_app=site.name)}?" + request.GET.urlencode()
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if message := _throttled_message(device):
            form.add_error("code", message)
        else:
            codes = _confirm(device=device, code=form.cleaned_data["code"])
            if codes is None:
                form.add_error("code", "That code is not right: check the phone's clock, then try again.")
            else:
                _verified(request, device)
                return _page(
                    site, request, "admin/otp/recovery_codes.html", codes=codes, subtitle="Recovery codes"
                )
    return _page(
        site,
        request,
        "admin/otp/enrol.html",
        form=form,
        subtitle="Set up an authenticator app",
        config_url=device.config_url,
        secret=b32encode(device.bin_key).decode(),
        qr_svg=_qr_svg(device.config_url),
    )


def _confirm(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device if `code` is right; then (re)make the recovery codes and return them."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if locked.confirmed or not locked.verify_token(code):
            return None
        locked.confirmed = True
        locked.save(update_fields=["confirmed"])
        device.confirmed = True
        return recovery_codes_issue(user=locked.user)


def recovery_codes_issue(*, user: Any) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones; returns them once."""
    recovery, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    recovery.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return codes


def _qr_svg(data: str) -> str:
    """The otpauth URI as an SVG QR code (segno), for an <img src="data:..."> under our CSP."""
    from base64 import b64encode

    from django_otp.qr import write_qrcode_image

    out = io.BytesIO()
    write_qrcode_image(data, out)
    return "data:image/svg+xml;base64," + b64encode(out.getvalue()).decode()
