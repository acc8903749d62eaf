"""The dashboard: sign-ups and sign-ins with a server-rendered SVG chart, pending work, failures.

Charts are server-rendered SVG styled by classes from gatehouse/admin.css (no inline script
or style, under the site's Content-Security-Policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from invites.models import Invitation, SignupRefusal
from outbox.models import SideEffect, SideEffectStatus
from outbox.services import side_effect_retry
from staff.pages import OVERVIEW_ROWS
from tenants.models import (
    ActivityEvent,
    ActivityKind,
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
    value: int = 0


@dataclass(frozen=True)
class ChartTick:
    """A label on an axis: x and y in the SVG's coordinates."""

    x: float
    y: float
    label: str
    css: str = ""


@dataclass(frozen=True)
class Chart:
    bars: list[ChartBar]
    y_ticks: list[ChartTick]
    x_ticks: list[ChartTick]
    top: int


CHART_WIDTH = 640
CHART_HEIGHT = 170
# Room for the count labels on the left and the dates below (issue 17: the chart had neither).
PLOT_LEFT = 34
PLOT_TOP = 12
PLOT_BOTTOM = 22


def _nice_top(value: int) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100, ... at least `value`: its half is a whole number too."""
    scale = 1
    while True:
        for step in (2, 4, 10):
            if step * scale >= value:
                return step * scale
        scale *= 10


def activity_chart(days: list[tuple[date, int, int]]) -> Chart:
    """Bars for sign-ups and sign-ins per day, with a count axis and dates; drawn as inline SVG."""
    top = _nice_top(max([max(ups, ins) for _, ups, ins in days] + [1]))
    plot_width = CHART_WIDTH - PLOT_LEFT
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    base = PLOT_TOP + plot_height
    slot = plot_width / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    bars = []
    for i, (day, ups, ins) in enumerate(days):
        for offset, value, css, label in (
            (0, ups, "gh-bar-signup", "sign-ups"),
            (bar, ins, "gh-bar-signin", "sign-ins"),
        ):
            height = plot_height * value / top
            bars.append(
                ChartBar(
                    x=round(PLOT_LEFT + i * slot + offset, 1),
                    y=round(base - height, 1),
                    width=round(bar, 1),
                    height=round(height, 1),
                    css=css,
                    title=f"{day:%Y-%m-%d}: {value} {label}",
                    value=value,
                )
            )
    y_ticks = [
        ChartTick(x=PLOT_LEFT - 4, y=round(base - plot_height * n / top, 1), label=str(n))
        for n in (0, top // 2, top)
    ]
    # A date under the first day of each week, and under today, right-aligned so it is not cut
    # off; a weekly date too close to today's would overlap it.
    last = len(days) - 1
    x_ticks = [
        ChartTick(
            x=round(PLOT_LEFT + (i + 1) * slot if i == last else PLOT_LEFT + i * slot + bar, 1),
            y=CHART_HEIGHT - 6,
            label=f"{day:%b %-d}",
            css="gh-tick-end" if i == last else "",
        )
        for i, (day, _, _) in enumerate(days)
        if (i % 7 == 0 and last - i >= 4) or i == last
    ]
    return Chart(bars=bars, y_ticks=y_ticks, x_ticks=x_ticks, top=top)


def dashboard_data() -> dict[str, Any]:
    """Numbers for the dashboard in a fixed, small number of queries."""
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
        "failing_effects": list(SideEffect.objects.failing().order_by("-created_at")[:OVERVIEW_ROWS]),
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
