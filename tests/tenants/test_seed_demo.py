"""The demo's superuser can sign in: a password and a TOTP device whose URI seed_demo prints."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.otp import totp_code

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_prints_the_totp_uri_beside_the_password(client) -> None:
    output = _seed()

    device = TOTPDevice.objects.get(user__username="admin")
    assert device.confirmed is True
    assert f"\n  {device.config_url}\n" in output
    assert device.config_url.startswith("otpauth://totp/Gatehouse%3Aadmin?secret=")
    password = re.search(r"password '([^']+)'", output)[1]
    # The printed login works end to end: password, then a code from the printed device.
    client.post("/admin/login/", {"username": "admin", "password": password, "next": "/admin/"})
    assert client.post("/admin/second-factor/", {"code": totp_code(device)})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_seed_demo_keeps_the_device_across_runs() -> None:
    _seed()
    first = TOTPDevice.objects.get(user__username="admin")

    output = _seed()

    assert list(TOTPDevice.objects.filter(user__username="admin").values_list("pk", "key")) == [
        (first.pk, first.key)
    ]
    assert first.config_url in output
