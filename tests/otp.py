"""Staff sessions that have passed the admin's second factor, for Django test client tests."""

from __future__ import annotations

from typing import Any

import django_otp
from django.http import HttpRequest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def force_login_verified(client: Client, user: Any) -> TOTPDevice:
    """client.force_login, then django_otp.login on the session with a confirmed TOTP device.

    What a staff member has after a password and a good code (backoffice/otp.py). Returns
    the device, for tests that need its codes (totp_code).
    """
    client.force_login(user)
    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    request = HttpRequest()
    request.session = client.session
    request.user = user
    django_otp.login(request, device)
    request.session.save()
    return device


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now for `device` (or `steps_ahead` periods later)."""
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + steps_ahead
    )
    return f"{code:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """A 6-digit code the device refuses now (none of the codes within its tolerance)."""
    good = {totp_code(device, steps_ahead=step) for step in range(-device.tolerance, device.tolerance + 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in good)
