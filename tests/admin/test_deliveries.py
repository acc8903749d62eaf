"""The admin says what the outbox row says about an email: queued, sent, maybe sent or failed."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from invites.models import Invitation
from invites.services import invitation_create
from outbox.aws import reset_clients
from outbox.models import SideEffect, SideEffectStatus
from tenants.models import EmailTemplate
from tests.admin.test_operations import TEMPLATE_FORM
from tests.conftest import free_port

# On-commit sends must really run after the view's transaction, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ses_down(settings: Any) -> None:
    """SES unreachable: nothing listens on the endpoint, every send is refused."""
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    reset_clients()
    yield
    reset_clients()


def _add(admin_client: Any, acme: Any, roles: dict[str, Any]) -> str:
    response = admin_client.post(
        reverse("admin:invites_invitation_add"),
        {"company": acme.pk, "email": "bob@acme.com", "role": roles["USER"].pk, "send_email": "on"},
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_code_page_says_sent_only_when_ses_accepted_it(aws, admin_client, acme, roles):
    body = _add(admin_client, acme, roles)

    assert "The invitation email to bob@acme.com: <strong>sent</strong>." in body
    assert "emailed to" not in body
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["bob@acme.com"]]


def test_the_code_page_says_queued_when_ses_did_not_take_it(ses_down, admin_client, acme, roles):
    body = _add(admin_client, acme, roles)

    assert (
        "The invitation email to bob@acme.com: <strong>queued, retrying (not accepted yet)</strong>" in body
    )
    assert SideEffect.objects.get().status == SideEffectStatus.PENDING


def test_the_list_counts_sends_ses_accepted_not_emails_queued(ses_down, admin_client, acme, roles):
    invitation = invitation_create(
        company=acme, email="bob@acme.com", role=roles["USER"], send=True
    ).invitation
    sent = invitation_create(company=acme, email="eve@acme.com", role=roles["USER"], send=True).invitation
    SideEffect.objects.filter(key=f"email:invitation:{sent.pk}:1").update(status=SideEffectStatus.DONE)
    maybe = invitation_create(company=acme, email="max@acme.com", role=roles["USER"], send=True).invitation
    SideEffect.objects.filter(key=f"email:invitation:{maybe.pk}:1").update(status=SideEffectStatus.IN_FLIGHT)
    invitation_create(company=acme, email="nel@acme.com", role=roles["USER"])

    response = admin_client.get(reverse("admin:invites_invitation_changelist"))

    rows = {
        inv.email: (inv.times_sent, inv.emails_accepted, inv.last_email_status)
        for inv in response.context["cl"].result_list
    }
    assert rows == {
        "bob@acme.com": (1, 0, SideEffectStatus.PENDING),
        "eve@acme.com": (1, 1, SideEffectStatus.DONE),
        "max@acme.com": (1, 0, SideEffectStatus.IN_FLIGHT),
        "nel@acme.com": (0, 0, None),
    }
    body = response.content.decode()
    assert "Times sent" not in body
    assert '<td class="field-emails">1 sent · last sent</td>' in body
    assert '<td class="field-emails">0 sent · last maybe sent</td>' in body
    assert '<td class="field-emails">0 sent · last queued, retrying (not accepted yet)</td>' in body
    assert '<td class="field-emails">not emailed</td>' in body
    assert Invitation.objects.get(pk=invitation.pk).times_sent == 1


def test_the_company_page_shows_each_invitations_last_email(ses_down, admin_client, acme, roles):
    invitation_create(company=acme, email="bob@acme.com", role=roles["USER"], send=True)

    body = admin_client.get(reverse("admin:tenants_company_change", args=[acme.pk])).content.decode()

    assert "<td>0</td><td>queued, retrying (not accepted yet)</td>" in body


def test_bulk_codes_page_shows_each_emails_state(aws, admin_client, acme, roles):
    response = admin_client.post(
        reverse("admin:invites_invitation_bulk"),
        {
            "company": acme.pk,
            "rows": "m@acme.com,USER\nn@acme.com,USER",
            "on_bad_rows": "none",
            "send_email": "on",
            "_create": "1",
        },
    )

    body = response.content.decode()
    assert body.count('<td class="gh-delivery">sent</td>') == 2


def test_a_template_test_says_sent_when_ses_accepted_it(aws, admin_client):
    template = EmailTemplate.objects.create(**{k: v for k, v in TEMPLATE_FORM.items() if k != "sms_body"})

    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_send_test", args=[template.pk]), follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "A test of the saved version was sent to staff@example.com (SES accepted it)."
    ]


def test_a_template_test_says_queued_when_ses_refused_it(ses_down, admin_client):
    template = EmailTemplate.objects.create(**{k: v for k, v in TEMPLATE_FORM.items() if k != "sms_body"})

    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_send_test", args=[template.pk]), follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "The test email to staff@example.com is queued, retrying (not accepted yet): SES has not "
        "accepted it yet. The outbox retries it and shows why."
    ]
