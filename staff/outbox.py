from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox.models import SideEffect
from outbox.services import side_effect_retry
from tenants.admin_scale import LargeTableAdmin


@admin.register(SideEffect)
class SideEffectAdmin(LargeTableAdmin):
    list_display = ["created_at", "kind", "status", "attempts", "next_attempt_at", "profile", "short_error"]
    list_filter = ["status", "kind"]
    list_select_related = ["profile"]
    search_fields = ["key", "profile__email"]
    actions = ["retry_selected"]
    readonly_fields = [
        "key",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "profile",
        "payload",
        "created_at",
        "done_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="last error")
    def short_error(self, obj: SideEffect) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Retry now", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[SideEffect]) -> None:
        queued = sum(side_effect_retry(side_effect=effect) for effect in queryset)
        self.message_user(request, f"Queued {queued} side effect(s) for retry; done ones are left alone.")
