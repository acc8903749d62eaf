"""The admin's own pages: company overview data, email previews, the dashboard, try a trigger.

Every page works under the site's Content-Security-Policy (script-src and style-src
'self'): no inline script or style; charts are server-rendered SVG styled by classes
from gatehouse/admin.css. The email preview is the one page with a policy of its own
(see EMAIL_PREVIEW_CSP).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tenants.emails import TemplateProblem, TemplateSource, render_source, sample_context, validate_template
from tenants.models import (
    ActivityEvent,
    ActivityKind,
    Company,
    EmailTemplate,
    EmailTemplateKey,
    Status,
    UserProfile,
)
from tenants.selectors import FlagDecision, company_email_context, company_flag_report

# --- Company page ------------------------------------------------------------------------

OVERVIEW_ROWS = 10


@dataclass(frozen=True)
class CompanyOverview:
    members: int
    active_members: int
    suspended_members: int
    seat_limit: int | None
    recent_members: list[UserProfile]
    pending_invitations: int
    recent_invitations: list[Any]
    flags: list[FlagDecision]
    sign_ins_30_days: int
    recent_activity: list[ActivityEvent]
    links: dict[str, str] = field(default_factory=dict)

    @property
    def seats_free(self) -> int | None:
        return None if self.seat_limit is None else max(self.seat_limit - self.members, 0)

    @property
    def seat_percent(self) -> int:
        if not self.seat_limit:
            return 0
        return min(round(100 * self.members / self.seat_limit), 100)

    @property
    def seat_meter_class(self) -> str:
        # A class per 10 %, so the meter's width comes from the stylesheet, not an inline style.
        return f"gh-meter-{(self.seat_percent + 9) // 10 * 10}"


FLAG_REASONS = {"override": "company override", "tier": "subscription tier", "default": "flag default"}


def company_overview(*, company: Company) -> CompanyOverview:
    """What the company page shows: a fixed number of queries whatever the company's size."""
    from invites.models import Invitation

    counts = UserProfile.objects.filter(company=company).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status=Status.ACTIVE)),
        suspended=Count("pk", filter=Q(status=Status.SUSPENDED)),
    )
    pending = Invitation.objects.pending().filter(company=company)
    since = timezone.now() - timedelta(days=30)
    base = {"company__id__exact": company.pk}
    return CompanyOverview(
        members=counts["total"],
        active_members=counts["active"],
        suspended_members=counts["suspended"],
        seat_limit=company.seat_limit,
        recent_members=list(
            UserProfile.objects.filter(company=company)
            .select_related("role")
            .order_by("-created_at")[:OVERVIEW_ROWS]
        ),
        pending_invitations=pending.count(),
        recent_invitations=list(
            pending.select_related("role", "created_by").order_by("-created_at")[:OVERVIEW_ROWS]
        ),
        flags=company_flag_report(company=company),
        sign_ins_30_days=ActivityEvent.objects.filter(
            company=company, kind=ActivityKind.SIGN_IN, created_at__gte=since
        ).count(),
        recent_activity=list(
            ActivityEvent.objects.filter(company=company)
            .select_related("profile")
            .order_by("-created_at")[:OVERVIEW_ROWS]
        ),
        links={
            "members": _changelist("tenants", "userprofile", base),
            "invitations": _changelist("invites", "invitation", {**base, "status": "pending"}),
            "activity": _changelist("tenants", "activityevent", base),
            "invite": reverse("admin:invites_invitation_add") + f"?company={company.pk}",
            "bulk": reverse("admin:invites_invitation_bulk") + f"?company={company.pk}",
        },
    )


def _changelist(app: str, model: str, query: dict[str, Any]) -> str:
    params = QueryDict(mutable=True)
    params.update(query)
    return reverse(f"admin:{app}_{model}_changelist") + "?" + params.urlencode()


# --- Email templates: preview and test send ---------------------------------------------

# The preview frame shows an email as a mail client would: its own inline styles apply,
# nothing runs (no script source at all, and the frame is sandboxed twice: by the
# iframe's sandbox attribute and by this policy's sandbox directive).
EMAIL_PREVIEW_CSP = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:", "https:"],
    "font-src": ["data:", "https:"],
    "frame-ancestors": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "sandbox": True,
}


def email_preview_response(request: HttpRequest, data: QueryDict | None) -> HttpResponse:
    """Render the posted template fields with sample data into a page for the preview frame."""
    context: dict[str, Any] = {"problems": [], "rendered": None}
    if data is None:
        context["empty"] = True
    else:
        key = data.get("key", "")
        if key not in EmailTemplateKey.values:
            context["problems"] = [("key", "Choose which message this template is for.")]
        else:
            company = None
            company_id = data.get("company", "")
            if company_id.isdigit():
                company = Company.objects.filter(pk=int(company_id)).first()
            source = TemplateSource(
                key=key,
                language=data.get("language", "en") or "en",
                subject=data.get("subject", ""),
                html_body=data.get("html_body", ""),
                text_body=data.get("text_body", ""),
                sms_body=data.get("sms_body", ""),
                origin="preview",
            )
            sample = sample_context(key)
            if company is not None:
                sample["company"] = company_email_context(company)
            try:
                context["rendered"] = render_source(source, sample)
                validate_template(
                    key=key,
                    subject=source.subject,
                    html_body=source.html_body,
                    text_body=source.text_body,
                    sms_body=source.sms_body,
                )
            except TemplateProblem as problem:
                context["problems"] = [
                    (name, message) for name, errors in problem.message_dict.items() for message in errors
                ]
    response = TemplateResponse(request, "admin/tenants/emailtemplate/preview_frame.html", context)
    response._csp_config = EMAIL_PREVIEW_CSP  # type: ignore[attr-defined]
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "no-store"
    return response


def email_send_test(*, template: EmailTemplate, to: str) -> None:
    """Queue the saved template, with sample data, to one address through the outbox."""
    from outbox.services import email_enqueue

    email_enqueue(
        key=f"template-test:{template.pk}:{secrets.token_hex(8)}",
        template=template.key,
        to=to,
        company=template.company,
        language=template.language,
        context=sample_context(template.key),
    )


# --- Dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


CHART_WIDTH = 600
CHART_HEIGHT = 120


def activity_chart(days: list[tuple[date, int, int]]) -> list[ChartBar]:
    """Bars for sign-ups and sign-ins per day, scaled to the chart; drawn as inline SVG."""
    top = max([max(ups, ins) for _, ups, ins in days] + [1])
    slot = CHART_WIDTH / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    bars = []
    for i, (day, ups, ins) in enumerate(days):
        for offset, value, css, label in (
            (0, ups, "gh-bar-signup", "sign-ups"),
            (bar, ins, "gh-bar-signin", "sign-ins"),
        ):
            height = CHART_HEIGHT * value / top
            bars.append(
                ChartBar(
                    x=round(i * slot + offset, 1),
                    y=round(CHART_HEIGHT - height, 1),
                    width=round(bar, 1),
                    height=round(height, 1),
                    css=css,
                    title=f"{day:%Y-%m-%d}: {value} {label}",
                )
            )
    return bars


def dashboard_data() -> dict[str, Any]:
    """Numbers for the dashboard in a fixed, small number of queries."""
    from invites.models import Invitation, SignupRefusal
    from outbox.models import SideEffect, SideEffectStatus

    now = timezone.now()
    today = timezone.localdate(now)
    start = today - timedelta(days=29)
    per_day = (
        ActivityEvent.objects.filter(
            kind__in=[ActivityKind.SIGN_UP, ActivityKind.SIGN_IN],
            # A bound on the column itself, so the (kind, created_at) index serves it.
            created_at__gte=timezone.make_aware(datetime.combine(start, datetime.min.time())),
        )
        .annotate(day=TruncDate("created_at"))
        .values("day", "kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[tuple[date, str], int] = {(row["day"], row["kind"]): row["n"] for row in per_day}
    days = [
        (
            day,
            counts.get((day, ActivityKind.SIGN_UP), 0),
            counts.get((day, ActivityKind.SIGN_IN), 0),
        )
        for day in (start + timedelta(days=i) for i in range(30))
    ]
    week = days[-7:]
    invitations = Invitation.objects.pending().aggregate(
        pending=Count("pk"), expiring=Count("pk", filter=Q(expires_at__lte=now + timedelta(days=3)))
    )
    refusals = list(
        SignupRefusal.objects.filter(created_at__gte=now - timedelta(days=30))
        .values("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    )
    reason_labels = dict(SignupRefusal._meta.get_field("reason").choices or [])
    effects = SideEffect.objects.aggregate(
        waiting=Count("pk", filter=Q(status=SideEffectStatus.PENDING)),
        failing=Count("pk", filter=Q(status=SideEffectStatus.PENDING, attempts__gt=0)),
        failed=Count("pk", filter=Q(status=SideEffectStatus.FAILED)),
    )
    return {
        "days": days,
        "chart": activity_chart(days),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "totals": {
            "sign_ups_7": sum(d[1] for d in week),
            "sign_ins_7": sum(d[2] for d in week),
            "sign_ups_30": sum(d[1] for d in days),
            "sign_ins_30": sum(d[2] for d in days),
        },
        "invitations": invitations,
        "refusals": [
            {"reason": r["reason"], "label": reason_labels.get(r["reason"], r["reason"]), "n": r["n"]}
            for r in refusals
        ],
        "effects": effects,
        "failing_effects": list(
            SideEffect.objects.failing().select_related("profile").order_by("-created_at")[:OVERVIEW_ROWS]
        ),
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "can_retry": request.user.has_perm("outbox.change_sideeffect"),
        "can_try_triggers": request.user.has_perm("tenants.use_trigger_console"),
        **dashboard_data(),
    }
    return TemplateResponse(request, "admin/gatehouse/dashboard.html", context)


def side_effect_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    from outbox.models import SideEffect
    from outbox.services import side_effect_retry

    if not request.user.has_perm("outbox.change_sideeffect"):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseRedirect(reverse("gatehouse_dashboard"))
    effect = get_object_or_404(SideEffect, pk=pk)
    if side_effect_retry(side_effect=effect):
        messages.success(request, f"{effect} queued for a retry now.")
    else:
        messages.warning(request, f"{effect} is done already; nothing to retry.")
    return HttpResponseRedirect(reverse("gatehouse_dashboard"))


# --- Try a trigger -----------------------------------------------------------------------


def sample_event(*, trigger_source: str, version: str, profile: UserProfile | None) -> dict[str, Any]:
    """An event shaped like Cognito's for this trigger, about this user (or a made-up one)."""
    if profile is not None:
        username, sub, email = profile.username, profile.cognito_sub, profile.email
        names = {"given_name": profile.given_name, "family_name": profile.family_name}
    else:
        sub = "00000000-0000-4000-8000-000000000000"
        username, email = sub, "new.user@example.com"
        names = {"given_name": "New", "family_name": "User"}
    attributes = {
        "sub": sub,
        "email": email,
        "email_verified": "true",
        **{k: v for k, v in names.items() if v},
    }
    family = trigger_source.partition("_")[0]
    request: dict[str, Any] = {"userAttributes": attributes}
    if family == "PreSignUp":
        attributes.pop("sub")
        attributes["email_verified"] = "false"
        request |= {"validationData": {}, "clientMetadata": {}}
    elif family in {"PostConfirmation", "CustomMessage"}:
        request["clientMetadata"] = {}
    elif family == "PostAuthentication":
        request["newDeviceUsed"] = False
    elif family == "PreAuthentication":
        request["validationData"] = {}
    elif family == "TokenGeneration":
        group = profile.role.group_name if profile is not None and profile.role else ""
        request["groupConfiguration"] = {
            "groupsToOverride": [group] if group else [],
            "iamRolesToOverride": [],
            "preferredRole": None,
        }
        if version in {"2", "3"}:
            request["scopes"] = ["openid", "email", "profile"]
    if family == "CustomMessage":
        request |= {
            "codeParameter": "{####}",
            "usernameParameter": "{username}",
            "linkParameter": "{##Click##}",
        }
    elif family in {"DefineAuthChallenge", "CreateAuthChallenge"}:
        request["session"] = []
        if family == "CreateAuthChallenge":
            request["challengeName"] = "CUSTOM_CHALLENGE"
    elif family == "VerifyAuthChallengeResponse":
        request |= {"privateChallengeParameters": {}, "challengeAnswer": ""}
    elif family == "UserMigration":
        request = {"password": "", "validationData": {}}
    return {
        "version": version,
        "triggerSource": trigger_source,
        "region": settings.AWS_REGION,
        "userPoolId": settings.COGNITO_USER_POOL_ID or f"{settings.AWS_REGION}_EXAMPLE",
        "userName": username,
        "callerContext": {
            "awsSdkVersion": "aws-sdk-unknown-unknown",
            "clientId": settings.COGNITO_APP_CLIENT_ID or "example-client-id",
        },
        "request": request,
        "response": {},
    }


def claims_sizes(response: Any) -> dict[str, int]:
    """Bytes of the claims a pre token generation answer adds, per token (compact JSON)."""
    if not isinstance(response, dict):
        return {}

    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

    sizes = {}
    v1 = response.get("claimsOverrideDetails")
    if isinstance(v1, dict) and v1.get("claimsToAddOrOverride"):
        sizes["ID token"] = size(v1["claimsToAddOrOverride"])
    v2 = response.get("claimsAndScopeOverrideDetails")
    if isinstance(v2, dict):
        for key, label in (("idTokenGeneration", "ID token"), ("accessTokenGeneration", "access token")):
            part = v2.get(key)
            if isinstance(part, dict) and part.get("claimsToAddOrOverride"):
                sizes[label] = size(part["claimsToAddOrOverride"])
    return sizes


@dataclass
class TryResult:
    event: dict[str, Any]
    outcome: str  # answered, rejected, invalid, error
    response: Any = None
    message: str = ""
    detail: str = ""
    error_type: str = ""
    duration_ms: float = 0.0
    queries: int = 0
    claims: dict[str, int] = field(default_factory=dict)

    @property
    def response_json(self) -> str:
        return json.dumps(self.response, indent=2, sort_keys=True, default=str)

    @property
    def event_json(self) -> str:
        return json.dumps(self.event, indent=2, default=str)


def trigger_try(event: dict[str, Any]) -> TryResult:
    """Run the real entry point on an event, then roll back everything it wrote.

    Side effects are safe too: the outbox runs them on commit, which never comes.
    """
    from triggers import lambda_handler
    from triggers.errors import MalformedEvent, Rejection, TriggerError, UnknownTrigger

    result = TryResult(event=event, outcome="answered")
    # invoke() leaves a connection inside a caller's transaction alone (it recycles only
    # connections between invocations), so the rollback below covers everything it wrote.
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        try:
            answer = lambda_handler.invoke(json.loads(json.dumps(event)))
            result.response = answer.get("response") if isinstance(answer, dict) else answer
            result.claims = claims_sizes(result.response)
        except Rejection as rejection:
            result.outcome, result.message = "rejected", rejection.public_message
            result.detail = f"reason: {rejection.reason}. {rejection.detail}".strip()
        except (MalformedEvent, UnknownTrigger) as error:
            result.outcome, result.message, result.detail = (
                "invalid",
                error.public_message,
                error.detail,
            )
            result.error_type = type(error).__name__
        except TriggerError as error:
            result.outcome, result.message, result.detail = (
                "error",
                error.public_message,
                error.detail,
            )
            result.error_type = type(error).__name__
            if error.__cause__ is not None:
                result.detail = f"{type(error.__cause__).__name__}: {error.__cause__}"
        # Undo everything the try wrote; on_commit side effects never run.
        transaction.set_rollback(True)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    result.queries = len(queries)
    return result


def try_trigger_view(request: HttpRequest) -> HttpResponse:
    from tenants.admin_forms import TriggerTryForm

    if not request.user.has_perm("tenants.use_trigger_console"):
        raise PermissionDenied
    form = TriggerTryForm(request.POST or None)
    result = None
    if request.method == "POST" and form.is_valid():
        event = form.cleaned_data["event"] or sample_event(
            trigger_source=form.cleaned_data["trigger_source"],
            version=form.cleaned_data["version"],
            profile=form.cleaned_data["user"],
        )
        result = trigger_try(event)
    context = {
        **admin.site.each_context(request),
        "title": "Try a trigger",
        "form": form,
        "result": result,
        "claims_budget": settings.CLAIMS_BYTE_BUDGET,
    }
    return TemplateResponse(request, "admin/gatehouse/try_trigger.html", context)
