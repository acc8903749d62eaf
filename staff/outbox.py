"""The outbox in the admin: what waits, what failed, retry. A row names its person only as
`subject` ("profile:<id>"); the admin, above both apps, turns that into a link and a search."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.addresses import mask_email, normalize_email
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.services import side_effect_retry, side_effect_send_again
from staff.scale import LargeTableAdmin
from tenants.messages import profile_subject
from tenants.models import UserProfile

PROFILE_PREFIX = "profile:"


@admin.register(SideEffect)
class SideEffectAdmin(LargeTableAdmin):
    list_display = ["created_at", "kind", "outcome", "attempts", "next_attempt_at", "person", "short_error"]
    list_filter = ["status", "kind"]
    search_fields = ["key", "=subject"]
    actions = ["retry_selected", "send_again_selected"]
    # Never the payload itself: an email's body (sealed at rest) may hold a live code. Staff
    # see what it is, to whom (masked) and how it went: `summary`.
    fields = (
        "key",
        "kind",
        "outcome",
        "attempts",
        "next_attempt_at",
        "attempt_started_at",
        "expires_at",
        "last_error",
        "person",
        "summary",
        "created_at",
        "done_at",
    )
    readonly_fields = fields  # every field: the outbox writes them, staff only act on rows

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term:
            # A person's email finds their effects through the subject reference (indexed).
            subjects = [
                profile_subject(profile)
                for profile in UserProfile.objects.filter(email=normalize_email(term)).only("pk")[:20]
            ]
            results = queryset.filter(Q(pk__in=results.values("pk")) | Q(subject__in=subjects))
        return results, may_have_duplicates

    @admin.display(description="person")
    def person(self, obj: SideEffect) -> str:
        if not obj.subject.startswith(PROFILE_PREFIX):
            return obj.subject or "-"
        pk = obj.subject.removeprefix(PROFILE_PREFIX)
        url = reverse("admin:tenants_userprofile_change", args=[pk])
        return format_html('<a href="{}">{}</a>', url, obj.subject)

    @admin.display(description="status", ordering="status")
    def outcome(self, obj: SideEffect) -> str:
        if obj.status == SideEffectStatus.IN_FLIGHT:
            return "maybe sent (outcome unknown: send again only if it did not arrive)"
        return obj.get_status_display()

    @admin.display(description="what")
    def summary(self, obj: SideEffect) -> str:
        payload = obj.payload if isinstance(obj.payload, dict) else {}
        if obj.kind == SideEffectKind.SEND_EMAIL:
            body = "encrypted until sent" if "sealed" in payload else str(payload.get("body", "dropped"))
            return (
                f"template {payload.get('template') or '-'} to {mask_email(str(payload.get('to', '')))}"
                f" ({obj.get_status_display().lower()}; body {body})"
            )
        if obj.kind == SideEffectKind.CRM_WEBHOOK:
            return f"POST {payload.get('url', '')} ({', '.join(sorted(payload.get('body', {})))})"
        return ", ".join(f"{k}={v}" for k, v in sorted(payload.items()))

    @admin.display(description="last error")
    def short_error(self, obj: SideEffect) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Retry now", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[SideEffect]) -> None:
        queued = sum(side_effect_retry(side_effect=effect) for effect in queryset)
        self.message_user(request, f"Queued {queued} side effect(s) for retry; done ones are left alone.")

    @admin.action(description="Send again (maybe sent: may arrive twice)", permissions=["change"])
    def send_again_selected(self, request: HttpRequest, queryset: QuerySet[SideEffect]) -> None:
        queued = sum(side_effect_send_again(side_effect=effect) for effect in queryset)
        self.message_user(
            request,
            f"Queued {queued} maybe-sent side effect(s) again; others are left alone (not maybe "
            "sent, still settling, or their body was dropped).",
        )
