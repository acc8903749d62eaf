"""Admin for legacy users (the import from the system Gatehouse replaces)."""

from __future__ import annotations

from django.contrib import admin

from tenants.models import LegacyUser


@admin.register(LegacyUser)
class LegacyUserAdmin(admin.ModelAdmin):
    list_display = ["email", "given_name", "family_name", "company", "role", "algorithm", "migrated_at"]
    list_filter = ["migrated_at"]
    list_select_related = ["company", "role"]
    search_fields = ["email", "given_name", "family_name"]
    autocomplete_fields = ["company", "role"]
    readonly_fields = ["imported_at", "migrated_at"]
    exclude = ["password_hash"]

    @admin.display(description="hash")
    def algorithm(self, obj: LegacyUser) -> str:
        return obj.hash_algorithm
