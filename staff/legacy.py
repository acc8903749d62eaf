"""Admin for legacy users (the import from the system Gatehouse replaces).

The changelist has an "Import CSV" page: staff upload a file, see each row's outcome
from a dry run, then confirm. Between the two steps the file waits in the staff
member's session (server side: it holds password hashes) and is dropped once imported.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from tenants.legacy_import import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, LegacyImportReport, legacy_users_import
from tenants.models import LegacyUser

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SESSION_KEY = "legacy_user_import"


class LegacyImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 with a header row: "
        + ", ".join(REQUIRED_COLUMNS)
        + " and optionally "
        + ", ".join(OPTIONAL_COLUMNS)
        + ". Company is a slug, role a key.",
    )
    all_or_nothing = forms.BooleanField(
        required=False, label="All or nothing", help_text="Import nothing if any row is bad."
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: use the "
                "import_legacy_users command."
            )
        try:
            text: str = upload.read().decode("utf-8")
            return text
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text: save it as CSV UTF-8.") from exc


@admin.register(LegacyUser)
class LegacyUserAdmin(admin.ModelAdmin[LegacyUser]):
    list_display = ["email", "given_name", "family_name", "company", "role", "algorithm", "migrated_at"]
    list_filter = ["migrated_at"]
    # role__company: a company role's name shows its company (Role.__str__).
    list_select_related = ["company", "role", "role__company"]
    search_fields = ["email", "given_name", "family_name"]
    autocomplete_fields = ["company", "role"]
    readonly_fields = ["imported_at", "migrated_at"]
    exclude = ["password_hash"]

    @admin.display(description="hash")
    def algorithm(self, obj: LegacyUser) -> str:
        return obj.hash_algorithm

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="tenants_legacyuser_import",
            ),
            *super().get_urls(),
        ]

    def _may_import(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "may_import": self._may_import(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload -> dry-run preview -> confirm. Every step validates every row again."""
        if not self._may_import(request):
            raise PermissionDenied
        form = LegacyImportForm()
        report: LegacyImportReport | None = None
        token = ""
        if request.method == "POST" and "confirm" in request.POST:
            pending = request.session.get(SESSION_KEY) or {}
            if not pending or not secrets.compare_digest(
                str(pending.get("token", "")), request.POST.get("token", "")
            ):
                self.message_user(request, "That preview has expired: upload the file again.", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:tenants_legacyuser_import"))
            report = legacy_users_import(
                text=pending["text"], dry_run=False, all_or_nothing=bool(pending["all_or_nothing"])
            )
            del request.session[SESSION_KEY]
            level = messages.SUCCESS if report.ok else messages.WARNING
            self.message_user(request, report.summary(), level)
            if report.ok:
                return HttpResponseRedirect(reverse("admin:tenants_legacyuser_changelist"))
        elif request.method == "POST":
            form = LegacyImportForm(request.POST, request.FILES)
            if form.is_valid():
                text = form.cleaned_data["file"]
                all_or_nothing = form.cleaned_data["all_or_nothing"]
                report = legacy_users_import(text=text, dry_run=True, all_or_nothing=all_or_nothing)
                if not report.file_errors:
                    token = secrets.token_urlsafe(16)
                    request.session[SESSION_KEY] = {
                        "token": token,
                        "text": text,
                        "all_or_nothing": all_or_nothing,
                    }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import legacy users",
            "form": form,
            "report": report,
            "token": token,
            "columns": [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS],
            "would_write": bool(
                report
                and report.dry_run
                and (report.count("create") or report.count("update"))
                and not (report.all_or_nothing and report.errors)
            ),
        }
        return TemplateResponse(request, "admin/tenants/legacyuser/import.html", context)
