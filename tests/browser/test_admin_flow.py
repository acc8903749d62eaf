"""A staff member's day in a real browser: company, invitation, template, revoke; support is kept out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"


@pytest.fixture
def people(django_user_model: Any) -> dict[str, Any]:
    from django.contrib.auth.models import Group

    from tenants.models import Role
    from tenants.staff import ADMINISTRATORS, SUPPORT, staff_groups_sync

    staff_groups_sync()
    Role.objects.create(key="USER", name="User", permissions=["profile:read"], cognito_group="USER")
    ada = django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD, is_staff=True)
    ada.groups.add(Group.objects.get(name=ADMINISTRATORS))
    sam = django_user_model.objects.create_user("sam", "sam@example.com", PASSWORD, is_staff=True)
    sam.groups.add(Group.objects.get(name=SUPPORT))
    return {"ada": ada, "sam": sam}


def test_staff_member_company_invitation_template_and_revoke(open_session, people):
    from invites.models import Invitation, InvitationStatus
    from invites.services import invitation_code_hash
    from tenants.models import Company, EmailTemplate, Role

    ada = open_session()
    page = ada.page
    ada.login("ada", PASSWORD)
    ada.shot("01-index")

    # A company.
    page.goto("/admin/tenants/company/add/")
    page.locator("#id_name").press_sequentially("Globex")
    # The slug is filled in by the admin's own script from the name.
    assert page.input_value("#id_slug") == "globex"
    page.fill("#id_seat_limit", "5")
    page.click("input[name=_continue]")
    page.wait_for_selector("#gh-seats")
    company = Company.objects.get(slug="globex")
    assert "0 / 5" in page.inner_text(".gh-overview")
    ada.shot("02-company")

    # An invitation; its code is shown once.
    role = Role.objects.get(key="USER")
    page.goto(f"/admin/invites/invitation/add/?company={company.pk}&role={role.pk}")
    page.fill("#id_email", "new.hire@globex.com")
    page.uncheck("#id_send_email")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("input[name=_save]")
    assert "no-store" in posted.value.headers["cache-control"]
    code = page.inner_text("#invitation-code")
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}", code)
    invitation = Invitation.objects.get(email="new.hire@globex.com")
    assert invitation.code_hash == invitation_code_hash(code)
    ada.shot("03-invitation-code-once")
    page.goto("/admin/invites/invitation/")
    assert code not in page.content()

    # A template: the preview follows the edits, then it is saved.
    page.goto("/admin/tenants/emailtemplate/add/?key=welcome")
    preview = page.frame_locator("#gh-preview-frame")
    page.click("#gh-preview-button")  # without waiting for the script's first refresh
    preview.locator("#subject").wait_for()
    page.fill("#id_subject", "Welcome aboard, {{ user.given_name }}!")
    page.fill("#id_text_body", "Hello {{ user.given_name }}, your team at {{ company.display_name }} waits.")
    preview.locator("#subject", has_text="Welcome aboard, Alice!").wait_for()
    preview.locator("#text", has_text="Hello Alice, your team at Acme Inc. waits.").wait_for()
    html_frame = preview.frame_locator("iframe")
    html_frame.locator("body").wait_for()
    ada.shot("04-template-preview")
    # Out-of-process (sandboxed) frames are missing from full-page captures: shoot the panel too.
    page.locator(".gh-preview-panel").screenshot(path=str(ARTIFACTS / "04b-template-preview-frame.png"))
    page.fill("#id_html_body", "<p>{% load static %}</p>")
    page.click("input[name=_continue]")
    page.wait_for_selector(".errorlist")
    assert "The tag {% load %} is not allowed in emails." in page.inner_text(".field-html_body")
    ada.shot("05-template-error-on-field")
    page.fill("#id_html_body", "<p>Welcome, <strong>{{ user.given_name }}</strong>.</p>")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    template = EmailTemplate.objects.get(key="welcome", company=None)
    assert template.subject == "Welcome aboard, {{ user.given_name }}!"
    assert template.updated_by == people["ada"]

    # Revoke the invitation from the list.
    page.goto("/admin/invites/invitation/?status=pending")
    page.check(f"input[name=_selected_action][value='{invitation.pk}']")
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Revoked 1 invitation(s)" in page.inner_text(".messagelist")
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    ada.shot("06-invitation-revoked")

    # The dashboard and the try-a-trigger page.
    page.goto("/admin/dashboard/")
    page.wait_for_selector("svg.gh-chart")
    ada.shot("07-dashboard")
    page.goto("/admin/try-trigger/")
    page.fill("#id_event", '{"triggerSource": "Nonsense_Source", "request": {}}')
    page.click("input[type=submit][value^=Run]")
    page.wait_for_selector("#gh-try-result")
    assert "UnknownTrigger" in page.inner_text("#gh-try-result")
    ada.shot("08-try-a-trigger")

    assert ada.csp_violations == []


def test_support_staff_cannot_open_the_templates(open_session, people):
    sam = open_session()
    page = sam.page
    sam.login("sam", PASSWORD)
    assert "Email templates" not in page.inner_text("#content-main")

    response = page.goto("/admin/tenants/emailtemplate/")
    assert response.status == 403
    sam.shot("09-support-templates-forbidden")

    response = page.goto("/admin/invites/invitation/bulk/")
    assert response.status == 200
    page.fill("#id_rows", "one@acme.com,USER\nnot-an-email,USER")
    sam.shot("10-support-bulk-form")
    assert sam.csp_violations == []
