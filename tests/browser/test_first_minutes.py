"""A newcomer's first minutes in a real browser: the seeded dashboard, and an email in the mailbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"


def test_the_mailbox_shows_an_invitation_email_rendered_in_the_sandboxed_frame(
    open_session: Any, aws: Any, settings: Any, django_user_model: Any
) -> None:
    from django.core.management import call_command

    settings.LOCAL_AWS_URL = aws.url
    call_command("seed_demo", "--admin-password", PASSWORD, stdout=open("/dev/null", "w"))  # noqa: SIM115
    staff = open_session()
    page = staff.page
    staff.login("admin", PASSWORD)

    # The demo's people signed up and in through the triggers: the dashboard is not empty.
    page.goto("/admin/dashboard/")
    assert page.locator("svg.gh-chart rect.gh-bar-signup[height]:not([height='0.0'])").count() == 1
    assert page.locator("svg.gh-chart text.gh-tick-y").all_text_contents() == ["0", "2", "4"]
    staff.shot("first-minutes-dashboard")

    # Invite someone with the email ticked; the code page says what SES did.
    from tenants.models import Company, Role

    acme = Company.objects.get(slug="acme")
    user_role = Role.objects.get(company=None, key="USER")
    page.goto(f"/admin/invites/invitation/add/?company={acme.pk}&role={user_role.pk}")
    page.fill("#id_email", "erin@acme.com")
    page.click("input[name=_save]")
    assert page.inner_text("#gh-email-delivery") == "The invitation email to erin@acme.com: sent."

    # The invitation list fits its area: no column cut off at a laptop's width (issue 17).
    page.goto("/admin/invites/invitation/")
    staff.shot("first-minutes-invitations")
    widths = page.evaluate(
        "() => { const t = document.querySelector('#result_list');"
        " return [t.scrollWidth, t.parentElement.clientWidth]; }"
    )
    assert widths[0] <= widths[1], widths

    page.click("text=Mailbox (local)")
    page.wait_for_url("**/admin/mailbox/")
    assert page.locator("#gh-mailbox tbody tr").first.inner_text().startswith("erin@acme.com")
    frame = page.frame_locator("#gh-mailbox-frame")
    assert "To\terin@acme.com" in frame.locator("#headers").inner_text()
    # The email's own HTML, with its inline styles, inside the inner sandboxed frame.
    body = frame.frame_locator("iframe").locator("body")
    assert "You are invited to Acme Inc." in body.inner_text()
    staff.shot("first-minutes-mailbox")
    assert staff.csp_violations == []
    assert (ARTIFACTS / "first-minutes-mailbox.png").exists()
