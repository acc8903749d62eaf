"""The audit trail in the admin: read-only, filtered by company, actor kind and action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from staff.scale import LargeTableAdmin
from tenants.models import AuditEvent

FIELDS = (
    "created_at",
    "company",
    "actor_kind",
    "actor_id",
    "actor_label",
    "via_client_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
)


@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdmin):
    list_display = ["created_at", "company", "action", "object_type", "object_id", "actor_kind", "actor_id"]
    list_select_related = ["company"]
    list_filter = ["actor_kind", "action"]
    search_fields = ["=actor_id", "=object_id", "=request_id", "company__name"]
    autocomplete_fields = ["company"]
    date_hierarchy = "created_at"
    fields = FIELDS
    readonly_fields = FIELDS

    # Events are written by tenants.audit only; nobody edits or deletes the record.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
