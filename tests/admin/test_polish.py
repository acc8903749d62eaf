"""Small things a newcomer notices in the first minutes (issue 17)."""

from __future__ import annotations

import logging

import pytest
from django.templatetags.static import static

pytestmark = pytest.mark.django_db


def test_favicon_is_served_instead_of_a_404(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == static("gatehouse/favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


def test_admin_pages_link_the_icon(admin_client):
    body = admin_client.get("/admin/").content.decode()

    assert f'<link rel="icon" type="image/svg+xml" href="{static("gatehouse/favicon.svg")}">' in body


def test_django_log_lines_are_printed_once_as_json():
    # Django's own default config adds a plain console handler to "django" under DEBUG; the
    # root's JSON handler printed each line a second time.
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate is True
    assert "JsonFormatter" in [type(h.formatter).__name__ for h in logging.getLogger().handlers]
