"""The admin's own pieces of the company page and the email template page: overview, preview, test send.

Every page works under the site's Content-Security-Policy (script-src and style-src
'self'): no inline script or style. The email preview is the one page with a policy of
its own (see EMAIL_PREVIEW_CSP).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from invites.models import Invitation
from outbox.models import SideEffect
from staff.deliveries import invitations_with_delivery, last_email_label
from tenants.emails import TemplateProblem, TemplateSource, render_source, sample_context, validate_template
from tenants.messages import email_queue
from tenants.models import (
    ActivityEvent,
    ActivityKind,
    Company,
    EmailTemplate,
    EmailTemplateKey,
    Membership,
    MembershipStatus,
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
    recent_members: list[Membership]
    pending_invitations: int
    recent_invitations: list[Any]
    flags: list[FlagDecision]
    sign_ins_30_days: int
    recent_activity: list[ActivityEvent]
    links: dict[str, str] = field(default_factory=dict)
    owner: UserProfile | None = None

    @property
    def seats_free(self) -> int | None:
        # Seats are taken by active memberships only: a suspended member frees theirs.
        return None if self.seat_limit is None else max(self.seat_limit - self.active_members, 0)

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
    counts = (
        Membership.objects.current()
        .filter(company=company)
        .aggregate(
            total=Count("pk"),
            active=Count("pk", filter=Q(status=MembershipStatus.ACTIVE)),
            suspended=Count("pk", filter=Q(status=MembershipStatus.SUSPENDED)),
        )
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
            Membership.objects.current()
            .filter(company=company)
            .select_related("profile", "role")
            .order_by("-created_at")[:OVERVIEW_ROWS]
        ),
        owner=company.owner,
        pending_invitations=pending.count(),
        recent_invitations=[
            # What SES accepted and the latest email's state, from the outbox (staff/deliveries.py).
            _with_last_email(invitation)
            for invitation in invitations_with_delivery(
                pending.select_related("role", "created_by").order_by("-created_at")
            )[:OVERVIEW_ROWS]
        ],
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
            "members": _changelist("tenants", "membership", base),
            "invitations": _changelist("invites", "invitation", {**base, "status": "pending"}),
            "activity": _changelist("tenants", "activityevent", base),
            "invite": reverse("admin:invites_invitation_add") + f"?company={company.pk}",
            "bulk": reverse("admin:invites_invitation_bulk") + f"?company={company.pk}",
        },
    )


def _with_last_email(invitation: Invitation) -> Invitation:
    invitation.last_email = last_email_label(invitation)  # type: ignore[attr-defined]
    return invitation


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


def email_send_test(*, template: EmailTemplate, to: str) -> SideEffect:
    """Queue the saved template, with sample data, to one address through the outbox."""
    return email_queue(
        key=f"template-test:{template.pk}:{secrets.token_hex(8)}",
        template=template.key,
        to=to,
        company=template.company,
        language=template.language,
        context=sample_context(template.key),
    )
