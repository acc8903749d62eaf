"""The admin of the tenants app's models: companies, domains, roles, flags, people, templates.

One module for one app's ModelAdmins, each short and declarative; it runs past 400 lines
because the people admin carries its staff actions (suspend, reactivate, change role).
The pages behind them live in staff/pages.py, the forms in staff/forms.py.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.privacy import person_erase, person_export
from staff import pages
from staff.forms import EraseForm, RoleChangeForm, SuspendForm
from staff.memberships import PersonMembershipInline
from staff.scale import LargeTableAdmin
from tenants.emails import TemplateProblem, validate_template
from tenants.models import (
    ActivityEvent,
    AppClient,
    Company,
    CompanyDomain,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    KnownDevice,
    RateLimitCounter,
    Role,
    Status,
    UserProfile,
    Workspace,
)
from tenants.selectors import email_template_source
from tenants.services import StaffActionError, profile_change_role, profile_reactivate, profile_suspend


class CompanyDomainInline(admin.TabularInline[CompanyDomain, Company]):
    model = CompanyDomain
    extra = 0
    fields = ["domain", "allow_join", "auto_confirm", "verified_at"]


class RoleInline(admin.TabularInline[Role, Company]):
    model = Role
    extra = 0
    fields = ["key", "name", "permissions", "cognito_group", "precedence"]
    verbose_name_plural = "company roles (global roles apply too)"


class FlagOverrideInline(admin.TabularInline[FeatureFlagOverride, Company]):
    model = FeatureFlagOverride
    extra = 0
    autocomplete_fields = ["flag"]
    fields = ["flag", "enabled", "note"]


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin[Company]):
    list_display = ["name", "slug", "status", "subscription_tier", "member_count", "seat_limit", "created_at"]
    list_filter = ["status", "subscription_tier"]
    search_fields = ["name", "slug", "domains__domain"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["default_role"]
    # The owner changes only by transferring ownership (a membership action), never by hand.
    readonly_fields = ["owner", "created_at", "updated_at"]
    inlines = [CompanyDomainInline, RoleInline, FlagOverrideInline]
    # The overview (seats, members, invitations, flags, activity) sits above the form.
    change_form_template = "admin/tenants/company/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "slug", "status", "subscription_tier", "owner"]}),
        ("Limits", {"fields": ["seat_limit", "project_limit", "default_role", "ip_allowlist"]}),
        (
            "Email branding",
            {"fields": ["brand_display_name", "brand_sender_name", "brand_logo_url", "brand_accent_color"]},
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        company = self.get_object(request, object_id)
        if company is not None and company.ip_allowlist and not settings.TRUSTED_BACKEND_SECRET:
            # Without a trusted backend no address is believed, so the allowlist refuses everyone.
            messages.warning(
                request,
                "This company has an IP allowlist but no TRUSTED_BACKEND_SECRET is configured: "
                "no caller address can be trusted, so every sign-in is refused. See docs/security.md.",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Company | None = None,
    ) -> HttpResponse:
        # Only when the page is drawn (not on a save that redirects), with the company
        # the change view already loaded.
        if obj is not None and obj.pk is not None:
            context["overview"] = pages.company_overview(company=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="members", ordering="active_members")
    def member_count(self, obj: Company) -> int:
        # Active memberships, counted by tenants.memberships under the company row lock.
        return obj.active_members


@admin.register(CompanyDomain)
class CompanyDomainAdmin(admin.ModelAdmin[CompanyDomain]):
    list_display = ["domain", "company", "allow_join", "auto_confirm", "verified_at"]
    list_filter = ["allow_join", "auto_confirm"]
    list_select_related = ["company"]
    search_fields = ["domain", "company__name"]
    autocomplete_fields = ["company"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin[Role]):
    list_display = ["key", "name", "company", "permission_list", "cognito_group", "precedence"]
    list_select_related = ["company"]
    search_fields = ["key", "name", "company__name"]
    autocomplete_fields = ["company"]

    @admin.display(description="permissions")
    def permission_list(self, obj: Role) -> str:
        return ", ".join(obj.permissions) or "—"


@admin.register(FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin[FeatureFlag]):
    list_display = ["key", "description", "default_enabled", "tiers", "override_count"]
    list_filter = ["default_enabled"]
    search_fields = ["key", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FeatureFlag]:
        return super().get_queryset(request).annotate(_overrides=Count("overrides"))

    @admin.display(description="on for tiers")
    def tiers(self, obj: FeatureFlag) -> str:
        return ", ".join(obj.enabled_tiers) or "—"

    @admin.display(description="overrides", ordering="_overrides")
    def override_count(self, obj: FeatureFlag) -> int:
        return getattr(obj, "_overrides", 0)


@admin.register(FeatureFlagOverride)
class FeatureFlagOverrideAdmin(admin.ModelAdmin[FeatureFlagOverride]):
    list_display = ["flag", "company", "enabled", "note"]
    list_filter = ["enabled"]
    list_select_related = ["flag", "company"]
    search_fields = ["flag__key", "company__name"]
    autocomplete_fields = ["flag", "company"]


@admin.register(UserProfile)
class UserProfileAdmin(LargeTableAdmin):
    list_display = ["email", "full_name", "company", "role", "status", "last_login_at", "login_count"]
    list_filter = ["status", "onboarding_step", "migrated_from_legacy", "company__subscription_tier"]
    # role__company: a company role's name shows its company (Role.__str__).
    list_select_related = ["company", "role", "role__company"]
    # The Cognito sub is an identifier: matched whole (its unique index), not as a substring.
    search_fields = ["email", "username", "=cognito_sub", "given_name", "family_name", "company__name"]
    actions = ["suspend_selected", "reactivate_selected"]
    change_form_template = "admin/tenants/userprofile/change_form.html"
    inlines = [PersonMembershipInline]
    # Cognito owns identity. Company, role and status change only through the staff actions
    # (suspend, reactivate, change role), which keep Cognito in step and leave history.
    readonly_fields = [
        "cognito_sub",
        "username",
        "email",
        "company",
        "role",
        "status",
        "signup_source",
        "signup_campaign",
        "signup_referrer",
        "migrated_from_legacy",
        "last_login_at",
        "login_count",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            "Identity (from Cognito)",
            {"fields": ["cognito_sub", "username", "email", "given_name", "family_name"]},
        ),
        ("Membership", {"fields": ["company", "role", "status"]}),
        ("Preferences", {"fields": ["preferences", "onboarding_step"]}),
        (
            "Sign-up",
            {"fields": ["signup_source", "signup_campaign", "signup_referrer", "migrated_from_legacy"]},
        ),
        ("Activity", {"fields": ["last_login_at", "login_count", "created_at", "updated_at"]}),
    ]

    @admin.display(description="name")
    def full_name(self, obj: UserProfile) -> str:
        return obj.full_name

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Profiles come from Cognito (sign-up, migration, AdminCreateUser invitations).
        return False

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/suspend/", wrap(self.suspend_view), name="tenants_userprofile_suspend"),
            path(
                "<path:object_id>/reactivate/",
                wrap(self.reactivate_view),
                name="tenants_userprofile_reactivate",
            ),
            path("<path:object_id>/role/", wrap(self.role_view), name="tenants_userprofile_role"),
            path("<path:object_id>/export/", wrap(self.export_view), name="tenants_userprofile_export"),
            path("<path:object_id>/erase/", wrap(self.erase_view), name="tenants_userprofile_erase"),
            *super().get_urls(),
        ]

    def _profile_for_action(self, request: HttpRequest, object_id: str) -> UserProfile:
        profile = get_object_or_404(UserProfile.objects.select_related("company", "role"), pk=object_id)
        if not self.has_change_permission(request, profile):
            raise PermissionDenied
        return profile

    def _action_page(
        self, request: HttpRequest, profile: UserProfile, title: str, form: forms.Form, button: str
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": profile,
            "title": title,
            "form": form,
            "button": button,
            "cognito_configured": bool(settings.COGNITO_USER_POOL_ID),
        }
        return TemplateResponse(request, "admin/tenants/userprofile/action.html", context)

    def _back(self, profile: UserProfile) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:tenants_userprofile_change", args=[profile.pk]))

    def suspend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        profile = self._profile_for_action(request, object_id)
        form = SuspendForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if profile_suspend(profile=profile, actor=request.user, reason=form.cleaned_data["reason"]):
                self.message_user(request, f"{profile} is suspended; Cognito will disable and sign them out.")
            else:
                self.message_user(request, f"{profile} was already suspended.", messages.WARNING)
            return self._back(profile)
        return self._action_page(request, profile, f"Suspend {profile}", form, "Suspend")

    def reactivate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        profile = self._profile_for_action(request, object_id)
        form = forms.Form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if profile_reactivate(profile=profile, actor=request.user):
                self.message_user(request, f"{profile} is active again; Cognito will enable them.")
            else:
                self.message_user(request, f"{profile} was already active.", messages.WARNING)
            return self._back(profile)
        return self._action_page(request, profile, f"Reactivate {profile}", form, "Reactivate")

    def role_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        profile = self._profile_for_action(request, object_id)
        if profile.company_id is None:
            self.message_user(
                request, "This user belongs to no company, so they cannot hold a role.", messages.ERROR
            )
            return self._back(profile)
        form = RoleChangeForm(request.POST or None, profile=profile, actor=request.user)
        if request.method == "POST" and form.is_valid():
            role = form.cleaned_data["role"]
            try:
                changed = profile_change_role(profile=profile, role=role, actor=request.user)
            except StaffActionError as error:
                form.add_error("role", str(error))
            else:
                if changed:
                    self.message_user(request, f"{profile} is now {role.key}; their Cognito group follows.")
                else:
                    self.message_user(
                        request, f"{profile} already had the role {role.key}.", messages.WARNING
                    )
                return self._back(profile)
        return self._action_page(request, profile, f"Change the role of {profile}", form, "Change role")

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Everything Gatehouse holds on this person, as a JSON download (GDPR access)."""
        profile = self._profile_for_action(request, object_id)
        response = JsonResponse(person_export(profile=profile), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="person-{profile.pk}.json"'
        response["Cache-Control"] = "no-store"
        return response

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Erase a person's data everywhere (GDPR erasure); the Cognito user is deleted too."""
        profile = get_object_or_404(UserProfile, pk=object_id)
        if not self.has_delete_permission(request, profile):
            raise PermissionDenied
        form = EraseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            record = person_erase(profile=profile, erased_by=f"staff:{request.user.get_username()}")
            self.message_user(
                request, f"Profile {record.profile_id} was erased; Cognito will delete the user."
            )
            return HttpResponseRedirect(reverse("admin:tenants_userprofile_changelist"))
        return self._action_page(request, profile, f"Erase {profile}", form, "Erase for good")

    @admin.action(description="Suspend (disable in Cognito, sign out everywhere)", permissions=["change"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[UserProfile]) -> None:
        done = sum(
            profile_suspend(profile=p, actor=request.user) for p in queryset.filter(status=Status.ACTIVE)
        )
        self.message_user(request, f"Suspended {done} user(s); the others were already suspended.")

    @admin.action(description="Reactivate (enable in Cognito)", permissions=["change"])
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[UserProfile]) -> None:
        done = sum(
            profile_reactivate(profile=p, actor=request.user)
            for p in queryset.filter(status=Status.SUSPENDED)
        )
        self.message_user(request, f"Reactivated {done} user(s); the others were already active.")


@admin.register(Workspace)
class WorkspaceAdmin(LargeTableAdmin):
    list_display = ["name", "kind", "owner", "company", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["owner", "company"]
    search_fields = ["name", "owner__email", "company__name"]
    autocomplete_fields = ["owner", "company"]


class EmailTemplateForm(forms.ModelForm[EmailTemplate]):
    class Meta:
        model = EmailTemplate
        fields = ["key", "language", "company", "subject", "html_body", "text_body", "sms_body"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            validate_template(
                key=cleaned.get("key", ""),
                subject=cleaned.get("subject", ""),
                html_body=cleaned.get("html_body", ""),
                text_body=cleaned.get("text_body", ""),
                sms_body=cleaned.get("sms_body", ""),
            )
        except TemplateProblem as problem:
            raise forms.ValidationError(problem.message_dict) from problem
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin[EmailTemplate]):
    form = EmailTemplateForm
    list_display = ["key", "language", "company", "subject", "updated_at", "updated_by"]
    list_filter = ["key", "language"]
    list_select_related = ["company", "updated_by"]
    search_fields = ["subject", "company__name"]
    autocomplete_fields = ["company"]
    readonly_fields = ["updated_at", "updated_by"]
    # The preview frame and the "send a test" button sit under the form.
    change_form_template = "admin/tenants/emailtemplate/change_form.html"

    class Media:
        js = ["gatehouse/template_preview.js"]

    def save_model(self, request: HttpRequest, obj: EmailTemplate, form: Any, change: bool) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        # Neither field is many-to-many, so Django gives each as a str, never a list.
        key = cast(str | None, initial.get("key") or request.GET.get("key"))
        if key:
            try:
                language = cast(str, initial.get("language", "en"))
                source = email_template_source(key=key, language=language, company=None)
            except LookupError:
                return initial
            initial.update(
                subject=source.subject,
                html_body=source.html_body,
                text_body=source.text_body,
                sms_body=source.sms_body,
            )
        return initial

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(self.preview_view), name="tenants_emailtemplate_preview"),
            path(
                "<path:object_id>/send-test/",
                wrap(self.send_test_view),
                name="tenants_emailtemplate_send_test",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The form's current fields rendered with sample data, for the sandboxed preview frame."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return pages.email_preview_response(request, request.POST if request.method == "POST" else None)

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue the saved template, rendered with sample data, to the staff member's own address."""
        template = get_object_or_404(EmailTemplate.objects.select_related("company"), pk=object_id)
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:tenants_emailtemplate_change", args=[template.pk]))
        if request.method != "POST":
            return back
        to = getattr(request.user, "email", "")
        if not to:
            self.message_user(
                request, "Your staff account has no email address to send the test to.", messages.ERROR
            )
            return back
        pages.email_send_test(template=template, to=to)
        self.message_user(request, f"A test of the saved version is on its way to {to}.")
        return back


@admin.register(AppClient)
class AppClientAdmin(admin.ModelAdmin[AppClient]):
    list_display = ["name", "client_id", "company", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["company"]
    search_fields = ["name", "client_id", "company__name"]
    autocomplete_fields = ["company"]


@admin.register(ActivityEvent)
class ActivityEventAdmin(LargeTableAdmin):
    list_display = ["created_at", "kind", "profile", "company"]
    list_filter = ["kind"]
    list_select_related = ["profile", "company"]
    search_fields = ["profile__email", "company__name"]
    date_hierarchy = "created_at"
    readonly_fields = ["kind", "profile", "company", "data", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(KnownDevice)
class KnownDeviceAdmin(LargeTableAdmin):
    list_display = ["profile", "description", "first_seen_at", "last_seen_at"]
    list_select_related = ["profile"]
    search_fields = ["profile__email", "description"]
    readonly_fields = ["profile", "fingerprint", "description", "first_seen_at", "last_seen_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RateLimitCounter)
class RateLimitCounterAdmin(admin.ModelAdmin[RateLimitCounter]):
    list_display = ["scope", "window_start", "count"]
    list_filter = ["scope"]
    readonly_fields = ["scope", "key", "window_start", "count"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
