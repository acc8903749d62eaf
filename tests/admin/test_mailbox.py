"""The local mailbox: what make run's SES (moto) accepted, newest first; 404 without it."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from outbox.aws import client
from tests.conftest import SENDER

pytestmark = pytest.mark.django_db


def _send(subject: str, *, html: str | None = None, text: str = "plain text") -> str:
    body: dict[str, Any] = {"Text": {"Data": text}}
    if html is not None:
        body["Html"] = {"Data": html}
    return client("ses").send_email(
        Source=f"Acme <{SENDER}>",
        Destination={"ToAddresses": ["bob@acme.com"], "CcAddresses": ["ops@acme.com"]},
        Message={"Subject": {"Data": subject}, "Body": body},
    )["MessageId"]


@pytest.fixture
def mailbox(aws: Any, settings: Any) -> Any:
    settings.LOCAL_AWS_URL = aws.url
    return aws


def test_the_mailbox_lists_what_ses_accepted_newest_first(mailbox, admin_client):
    _send("First")
    second = _send("Second", html="<p style='color:red'>Hello <b>Bob</b></p>")

    response = admin_client.get(reverse("gatehouse_mailbox"))

    assert response.status_code == 200
    assert [m.subject for m in response.context["messages_list"]] == ["Second", "First"]
    body = response.content.decode()
    assert f'src="{reverse("gatehouse_mailbox_frame", args=[second])}"' in body
    assert 'sandbox=""' in body
    # The body is never on the admin page itself, only inside the sandboxed frame.
    assert "Hello <b>Bob</b>" not in body


def test_a_message_frame_shows_headers_and_the_html_sandboxed(mailbox, admin_client):
    message_id = _send("Welcome", html="<p>Hello <b>Bob</b></p>")

    response = admin_client.get(reverse("gatehouse_mailbox_frame", args=[message_id]))

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "script-src" not in response["Content-Security-Policy"]
    body = response.content.decode()
    assert f"<tr><th>From</th><td>Acme &lt;{SENDER}&gt;</td></tr>" in body
    assert "<tr><th>To</th><td>bob@acme.com</td></tr><tr><th>Cc</th><td>ops@acme.com</td></tr>" in body
    assert f"<tr><th>Message-Id</th><td>{message_id}</td></tr>" in body
    assert (
        '<iframe sandbox="" title="HTML version" srcdoc="&lt;p&gt;Hello &lt;b&gt;Bob&lt;/b&gt;&lt;/p&gt;">'
        in body
    )


def test_a_text_only_message_shows_its_text(mailbox, admin_client):
    message_id = _send("Plain", text="Your code is 1234")

    body = admin_client.get(reverse("gatehouse_mailbox_frame", args=[message_id])).content.decode()

    assert '<pre id="text">Your code is 1234</pre>' in body
    assert "No HTML part recorded." in body


def test_the_mailbox_is_404_without_the_local_ses(admin_client, settings):
    settings.LOCAL_AWS_URL = ""

    assert admin_client.get(reverse("gatehouse_mailbox")).status_code == 404
    assert admin_client.get(reverse("gatehouse_mailbox_frame", args=["x"])).status_code == 404
    assert "Mailbox (local)" not in admin_client.get(reverse("admin:index")).content.decode()


def test_the_mailbox_is_404_in_production_even_if_configured(mailbox, admin_client, settings):
    settings.PRODUCTION = True

    assert admin_client.get(reverse("gatehouse_mailbox")).status_code == 404


def test_support_staff_without_the_outbox_cannot_read_the_mailbox(mailbox, client, django_user_model):
    from tests.otp import force_login_verified

    user = django_user_model.objects.create_user("plain", "plain@example.com", "pw", is_staff=True)
    force_login_verified(client, user)

    assert client.get(reverse("gatehouse_mailbox")).status_code == 403


def test_the_top_bar_links_the_mailbox_when_the_local_ses_is_there(mailbox, admin_client):
    body = admin_client.get(reverse("admin:index")).content.decode()

    assert f'<a href="{reverse("gatehouse_mailbox")}">Mailbox (local)</a>' in body
