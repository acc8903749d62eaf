"""The dashboard, the try-a-trigger page, and email template preview, test send and validation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from invites.models import Invitation, SignupPolicy, SignupRefusal
from invites.services import invitation_create, invitation_reserve
from outbox.models import SideEffect, SideEffectStatus
from staff.try_trigger import TryResult, claims_sizes, sample_event
from tenants.models import ActivityEvent, EmailTemplate, UserProfile

pytestmark = pytest.mark.django_db


# --- Dashboard -----------------------------------------------------------------------------


def add_activity(acme, days_ago: int, kind: str, n: int = 1) -> None:
    for _ in range(n):
        event = ActivityEvent.objects.create(kind=kind, company=acme)
        ActivityEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def test_dashboard_counts_7_and_30_days_and_draws_the_chart(admin_client, acme):
    add_activity(acme, 0, "sign_up", 2)
    add_activity(acme, 3, "sign_in", 4)
    add_activity(acme, 20, "sign_in", 1)
    add_activity(acme, 45, "sign_in", 9)  # outside the window
    SignupRefusal.objects.create(trigger_source="PreSignUp_SignUp", reason="invitation_required")
    SignupRefusal.objects.create(trigger_source="PreSignUp_SignUp", reason="invitation_required")
    SignupRefusal.objects.create(trigger_source="PreSignUp_SignUp", reason="rate_limited")
    SideEffect.objects.create(key="a", kind="send_email", payload={}, attempts=2, last_error="Throttling")
    SideEffect.objects.create(
        key="b", kind="send_email", payload={}, status=SideEffectStatus.FAILED, attempts=8
    )

    response = admin_client.get(reverse("gatehouse_dashboard"))

    assert response.status_code == 200
    assert response.context["totals"] == {
        "sign_ups_7": 2,
        "sign_ins_7": 4,
        "sign_ups_30": 2,
        "sign_ins_30": 5,
    }
    assert [(r["reason"], r["n"]) for r in response.context["refusals"]] == [
        ("invitation_required", 2),
        ("rate_limited", 1),
    ]
    assert response.context["effects"] == {"waiting": 1, "failing": 1, "failed": 1}
    assert len(response.context["chart"]) == 60
    assert response.content.decode().count("<rect ") == 60


def test_dashboard_retry_makes_a_failed_side_effect_due(administrator_client):
    # A webhook: a failed email has no body left to retry (docs/security.md).
    effect = SideEffect.objects.create(
        key="a",
        kind="crm_webhook",
        payload={"url": "http://127.0.0.1:9/", "body": {}},
        status=SideEffectStatus.FAILED,
    )
    response = administrator_client.post(reverse("gatehouse_side_effect_retry", args=[effect.pk]))
    assert response.status_code == 302
    effect.refresh_from_db()
    assert (effect.status, effect.attempts) == (SideEffectStatus.PENDING, 0)


def test_dashboard_queries_stay_flat(admin_client, acme):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            admin_client.get(reverse("gatehouse_dashboard"))
        return len(ctx)

    add_activity(acme, 1, "sign_in")
    small = queries()
    add_activity(acme, 2, "sign_in", 30)
    for i in range(20):
        SideEffect.objects.create(key=f"k{i}", kind="send_email", payload={}, attempts=1)
    assert queries() == small


# --- Try a trigger -------------------------------------------------------------------------


def event_for(source: str, **request) -> str:
    return json.dumps({"version": "1", "triggerSource": source, "userPoolId": "p", "request": request})


def try_event(administrator_client, event: dict) -> tuple[TryResult, str]:
    response = administrator_client.post(
        reverse("gatehouse_try_trigger"),
        {"trigger_source": event["triggerSource"], "version": event["version"], "event": json.dumps(event)},
    )
    return response.context["result"], response.content.decode()


def test_try_a_post_confirmation_answers_and_rolls_the_onboarding_back(administrator_client, acme, roles):
    issued = invitation_create(company=acme, email="ada@acme.com", role=roles["ADMIN"])
    invitation_reserve(invitation=issued.invitation, username="ada-user")
    event = {
        "version": "1",
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_EXAMPLE",
        "userName": "ada-user",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "example-client-id"},
        "request": {
            "userAttributes": {"sub": "sub-ada", "email": "ada@acme.com", "email_verified": "true"},
            "clientMetadata": {},
        },
        "response": {},
    }

    with CaptureQueriesContext(connection) as queries:
        result, page = try_event(administrator_client, event)

    assert (result.outcome, result.response, result.claims) == ("answered", {}, {})
    # Onboarding wrote the profile, accepted the invitation and queued its side effects...
    written = " ".join(q["sql"] for q in queries.captured_queries)
    assert 'INSERT INTO "tenants_userprofile"' in written
    assert 'UPDATE "invites_invitation" SET' in written
    assert 'INSERT INTO "outbox_sideeffect"' in written
    assert "<h2>Result: answered</h2>" in page
    assert '<pre class="gh-pre" id="gh-try-response">{}</pre>' in page
    # ...and the rollback undid every row; the side effects never ran (they wait for a commit).
    assert UserProfile.objects.count() == 0
    assert SideEffect.objects.count() == 0
    issued.invitation.refresh_from_db()
    assert (issued.invitation.accepted_by_id, issued.invitation.accepted_at) == (None, None)
    assert Invitation.objects.filter(accepted_at__isnull=False).count() == 0


def test_try_a_token_generation_shows_the_claims_and_their_size(administrator_client, member):
    event = sample_event(trigger_source="TokenGeneration_Authentication", version="1", profile=member)

    result, page = try_event(administrator_client, event)

    assert result.outcome == "answered"
    details = result.response["claimsOverrideDetails"]
    claims = details["claimsToAddOrOverride"]
    assert (claims["custom:companyId"], claims["custom:role"]) == (str(member.company_id), "USER")
    assert json.loads(claims["custom:permissions"]) == ["profile:read"]
    size = len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    assert result.claims == {"ID token": size}
    assert f'<td>ID token</td><td class="">{size} of {settings.CLAIMS_BYTE_BUDGET}</td>' in page
    assert "&quot;custom:role&quot;: &quot;USER&quot;" in page


def test_try_a_pre_sign_up_without_a_code_shows_the_refusal_and_records_nothing(administrator_client):
    SignupPolicy.objects.update_or_create(
        pk=1, defaults={"invitation_required": True, "domain_allowlist": []}
    )
    event = sample_event(trigger_source="PreSignUp_SignUp", version="1", profile=None)

    result, page = try_event(administrator_client, event)

    assert (result.outcome, result.message) == ("rejected", "An invitation code is required to sign up")
    assert result.detail == "reason: invitation_required."
    assert "the user would see “An invitation code is required to sign up”" in page
    assert "Detail for staff: reason: invitation_required." in page
    # The refusal was recorded inside the try, then rolled back with it.
    assert SignupRefusal.objects.count() == 0


@pytest.mark.parametrize(
    ("event", "error_type"),
    [
        (event_for("Nonsense_Source"), "UnknownTrigger"),
        (json.dumps({"request": {}}), "MalformedEvent"),
    ],
)
def test_try_a_trigger_reports_bad_events(administrator_client, event, error_type):
    response = administrator_client.post(
        reverse("gatehouse_try_trigger"),
        {"trigger_source": "PreSignUp_SignUp", "version": "1", "event": event},
    )
    result = response.context["result"]
    assert (result.outcome, result.error_type) == ("invalid", error_type)


def test_try_a_trigger_refuses_text_that_is_not_an_event(administrator_client):
    response = administrator_client.post(
        reverse("gatehouse_try_trigger"),
        {"trigger_source": "PreSignUp_SignUp", "version": "1", "event": "[1, 2"},
    )
    assert response.context["result"] is None
    assert response.context["form"].errors["event"][0].startswith("Not JSON:")


def test_try_a_trigger_builds_an_event_for_a_user(administrator_client, member):
    from staff.try_trigger import sample_event

    event = sample_event(trigger_source="TokenGeneration_Authentication", version="2", profile=member)
    assert event["userName"] == "member-user"
    assert event["request"]["userAttributes"]["sub"] == "sub-member"
    assert event["request"]["groupConfiguration"]["groupsToOverride"] == ["USER"]
    assert event["request"]["scopes"] == ["openid", "email", "profile"]
    response = administrator_client.post(
        reverse("gatehouse_try_trigger"),
        {"trigger_source": "TokenGeneration_Authentication", "version": "2", "user": "MEMBER@acme.com"},
    )
    assert response.context["result"].event["userName"] == "member-user"


def test_claims_sizes_of_v2_answers():
    response = {
        "claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": {"a": "é"}},
            "accessTokenGeneration": {"claimsToAddOrOverride": {"b": 1}, "scopesToAdd": ["x"]},
        }
    }
    assert claims_sizes(response) == {"ID token": len('{"a":"é"}'.encode()), "access token": 7}


# --- Email templates -------------------------------------------------------------------------

TEMPLATE_FORM = {
    "key": "welcome",
    "language": "en",
    "subject": "Hi {{ user.given_name }}",
    "html_body": '<p style="color:#d9480f">Hi <b>{{ user.given_name }}</b> of {{ company.display_name }}</p>',
    "text_body": "Hello {{ user.given_name }}",
    "sms_body": "",
}


def test_preview_renders_with_sample_data_under_its_own_policy(admin_client):
    response = admin_client.post(reverse("admin:tenants_emailtemplate_preview"), TEMPLATE_FORM)

    assert response.status_code == 200
    assert response.context["rendered"].subject == "Hi Alice"
    assert response.context["problems"] == []
    body = response.content.decode()
    # The email is escaped into srcdoc, so its markup cannot reach the preview page itself.
    assert (
        'srcdoc="&lt;p style=&quot;color:#d9480f&quot;&gt;Hi &lt;b&gt;Alice&lt;/b&gt; of Acme Inc.&lt;/p&gt;"'
        in body
    )
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy
    assert "frame-ancestors 'self'" in policy
    assert policy.endswith("sandbox")
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_lists_problems_with_their_field(admin_client):
    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_preview"),
        {**TEMPLATE_FORM, "key": "cm_sign_up", "text_body": "No code here"},
    )
    assert response.context["problems"] == [
        ("text_body", "Must contain {{ code }}: Cognito puts the code there."),
        ("html_body", "Must contain {{ code }}: Cognito puts the code there."),
    ] or sorted(response.context["problems"]) == [
        ("html_body", "Must contain {{ code }}: Cognito puts the code there."),
        ("text_body", "Must contain {{ code }}: Cognito puts the code there."),
    ]


def test_saving_a_broken_template_shows_the_reason_on_the_field(admin_client):
    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_add"), {**TEMPLATE_FORM, "html_body": "{% load static %}"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["html_body"] == [
        "The tag {% load %} is not allowed in emails."
    ]
    assert EmailTemplate.objects.count() == 0


def test_send_a_test_to_my_own_address(aws, admin_client, django_capture_on_commit_callbacks):
    template = EmailTemplate.objects.create(**{k: v for k, v in TEMPLATE_FORM.items() if k != "sms_body"})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:tenants_emailtemplate_send_test", args=[template.pk]))

    assert response.status_code == 302
    [message] = aws.ses_messages()
    assert message.destinations["ToAddresses"] == ["staff@example.com"]
    assert message.subject == "Hi Alice"
    assert SideEffect.objects.get().status == SideEffectStatus.DONE


def test_template_change_page_has_the_preview_frame_and_no_inline_script(admin_client):
    template = EmailTemplate.objects.create(**{k: v for k, v in TEMPLATE_FORM.items() if k != "sms_body"})
    body = admin_client.get(
        reverse("admin:tenants_emailtemplate_change", args=[template.pk])
    ).content.decode()
    assert '<iframe name="gh-preview" id="gh-preview-frame" class="gh-preview" sandbox=""' in body
    assert "gatehouse/template_preview.js" in body
    assert "<script>" not in body
    assert ' style="' not in body


def test_preview_escapes_the_text_version_too(admin_client):
    response = admin_client.post(
        reverse("admin:tenants_emailtemplate_preview"),
        {**TEMPLATE_FORM, "text_body": "<b>{{ user.given_name }}</b>"},
    )
    assert '<pre id="text">&lt;b&gt;Alice&lt;/b&gt;</pre>' in response.content.decode()


def test_try_the_real_pre_sign_up_leaves_nothing_behind(administrator_client):
    # Whatever today's policy decides, the refusal it records or the rows it writes are undone.
    response = administrator_client.post(
        reverse("gatehouse_try_trigger"), {"trigger_source": "PreSignUp_SignUp", "version": "1", "user": ""}
    )
    result = response.context["result"]
    assert result.event["request"]["userAttributes"]["email"] == "new.user@example.com"
    assert result.outcome in {"answered", "rejected"}
    assert SignupRefusal.objects.count() == 0


@pytest.mark.parametrize(
    "source",
    [
        "UserMigration_Authentication",
        "UserMigration_ForgotPassword",
        "VerifyAuthChallengeResponse_Authentication",
    ],
)
def test_try_a_trigger_refuses_events_whose_attempts_it_would_roll_back(administrator_client, source):
    from tenants.models import RateLimitCounter

    event = sample_event(trigger_source=source, version="1", profile=None)
    message = (
        "User migration and verify auth challenge events cannot be tried here: a try is rolled "
        "back, attempt limits with it, so it would allow unlimited password and code guesses."
    )

    result, page = try_event(administrator_client, event)

    # Not run at all: no statement, so no attempt that the rollback could take back.
    assert (result.outcome, result.message, result.queries) == ("refused", message, 0)
    assert f"Not run: {message}" in page
    assert RateLimitCounter.objects.count() == 0
