from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from invites.models import Invitation

# Registered in their own modules.
from tenants import admin_legacy  # noqa: F401
from tenants.emails import TemplateProblem, render_source, sample_context, validate_template
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
    UserProfile,
    Workspace,
)
from tenants.selectors import company_flag_report, email_template_source


class CompanyDomainInline(admin.TabularInline):
    model = CompanyDomain
    extra = 0
    fields = ["domain", "allow_join", "auto_confirm", "verified_at"]


class RoleInline(admin.TabularInline):
    model = Role
    extra = 0
    fields = ["key", "name", "permissions", "cognito_group", "precedence"]
    verbose_name_plural = "company roles (global roles apply too)"


class FlagOverrideInline(admin.TabularInline):
    model = FeatureFlagOverride
    extra = 0
    autocomplete_fields = ["flag"]
    fields = ["flag", "enabled", "note"]


class MemberInline(admin.TabularInline):
    model = UserProfile
    fk_name = "company"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ["email", "full_name", "role", "status", "last_login_at"]
    readonly_fields = fields
    verbose_name_plural = "members"

    def get_queryset(self, request: HttpRequest) -> QuerySet[UserProfile]:
        return super().get_queryset(request).select_related("role")

    def full_name(self, obj: UserProfile) -> str:
        return obj.full_name


class CompanyInvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ["email", "role", "status", "expires_at", "times_sent", "accepted_at"]
    readonly_fields = fields
    verbose_name_plural = "invitations"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return super().get_queryset(request).select_related("role")

    def status(self, obj: Invitation) -> str:
        return obj.status.label


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "subscription_tier", "member_count", "seat_limit", "created_at"]
    list_filter = ["status", "subscription_tier"]
    search_fields = ["name", "slug", "domains__domain"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["default_role"]
    readonly_fields = ["effective_flags", "created_at", "updated_at"]
    inlines = [CompanyDomainInline, RoleInline, FlagOverrideInline, MemberInline, CompanyInvitationInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "status", "subscription_tier"]}),
        ("Limits", {"fields": ["seat_limit", "project_limit", "default_role", "ip_allowlist"]}),
        (
            "Email branding",
            {"fields": ["brand_display_name", "brand_sender_name", "brand_logo_url", "brand_accent_color"]},
        ),
        ("Feature flags", {"fields": ["effective_flags"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return super().get_queryset(request).annotate(_member_count=Count("members", distinct=True))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Company) -> int:
        return getattr(obj, "_member_count", 0)

    @admin.display(description="effective feature flags")
    def effective_flags(self, obj: Company) -> str:
        if obj.pk is None:
            return "Saved companies show their flags here."
        rows = [
            (
                d.key,
                "on" if d.enabled else "off",
                {
                    "override": "company override",
                    "tier": f"{obj.subscription_tier} tier",
                    "default": "flag default",
                }[d.reason],
            )
            for d in company_flag_report(company=obj)
        ]
        if not rows:
            return "No feature flags defined."
        return format_html(
            "<table><tr><th>flag</th><th>value</th><th>decided by</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


@admin.register(CompanyDomain)
class CompanyDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "company", "allow_join", "auto_confirm", "verified_at"]
    list_filter = ["allow_join", "auto_confirm"]
    list_select_related = ["company"]
    search_fields = ["domain", "company__name"]
    autocomplete_fields = ["company"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "company", "permission_list", "cognito_group", "precedence"]
    list_select_related = ["company"]
    search_fields = ["key", "name", "company__name"]
    autocomplete_fields = ["company"]

    @admin.display(description="permissions")
    def permission_list(self, obj: Role) -> str:
        return ", ".join(obj.permissions) or "—"


@admin.register(FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin):
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
class FeatureFlagOverrideAdmin(admin.ModelAdmin):
    list_display = ["flag", "company", "enabled", "note"]
    list_filter = ["enabled"]
    list_select_related = ["flag", "company"]
    search_fields = ["flag__key", "company__name"]
    autocomplete_fields = ["flag", "company"]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["email", "full_name", "company", "role", "status", "last_login_at", "login_count"]
    list_filter = ["status", "onboarding_step", "migrated_from_legacy", "company__subscription_tier"]
    list_select_related = ["company", "role"]
    search_fields = ["email", "username", "cognito_sub", "given_name", "family_name", "company__name"]
    autocomplete_fields = ["company", "role"]
    # Cognito owns identity; Gatehouse owns company, role and status.
    readonly_fields = [
        "cognito_sub",
        "username",
        "email",
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


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "owner", "company", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["owner", "company"]
    search_fields = ["name", "owner__email", "company__name"]
    autocomplete_fields = ["owner", "company"]


class EmailTemplateForm(forms.ModelForm):
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
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["key", "language", "company", "subject", "updated_at", "updated_by"]
    list_filter = ["key", "language"]
    list_select_related = ["company", "updated_by"]
    search_fields = ["subject", "company__name"]
    autocomplete_fields = ["company"]
    readonly_fields = ["preview", "updated_at", "updated_by"]

    def save_model(self, request: HttpRequest, obj: EmailTemplate, form: Any, change: bool) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        key = initial.get("key") or request.GET.get("key")
        if key:
            try:
                source = email_template_source(key=key, language=initial.get("language", "en"), company=None)
            except LookupError:
                return initial
            initial.update(
                subject=source.subject,
                html_body=source.html_body,
                text_body=source.text_body,
                sms_body=source.sms_body,
            )
        return initial

    @admin.display(description="preview with sample data")
    def preview(self, obj: EmailTemplate) -> str:
        if obj.pk is None:
            return "Save to see a preview."
        from tenants.emails import TemplateSource
        from tenants.selectors import company_email_context

        source = TemplateSource(
            obj.key, obj.language, obj.subject, obj.html_body, obj.text_body, obj.sms_body, "row"
        )
        context = sample_context(obj.key) | {"company": company_email_context(obj.company)}
        try:
            rendered = render_source(source, context)
        except TemplateProblem as problem:
            return format_html('<p class="errornote">{}</p>', "; ".join(problem.messages))
        return format_html(
            "<p><strong>Subject:</strong> {}</p>"
            '<iframe sandbox="" title="HTML preview" class="gatehouse-preview" srcdoc="{}"></iframe>'
            "<pre style='white-space:pre-wrap'>{}</pre>{}",
            rendered.subject,
            rendered.html_body,
            rendered.text_body,
            format_html("<p><strong>SMS:</strong> {}</p>", rendered.sms_body) if rendered.sms_body else "",
        )


@admin.register(AppClient)
class AppClientAdmin(admin.ModelAdmin):
    list_display = ["name", "client_id", "company", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["company"]
    search_fields = ["name", "client_id", "company__name"]
    autocomplete_fields = ["company"]


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "profile", "company"]
    list_filter = ["kind"]
    list_select_related = ["profile", "company"]
    search_fields = ["profile__email", "company__name"]
    date_hierarchy = "created_at"
    readonly_fields = ["kind", "profile", "company", "data", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(KnownDevice)
class KnownDeviceAdmin(admin.ModelAdmin):
    list_display = ["profile", "description", "first_seen_at", "last_seen_at"]
    list_select_related = ["profile"]
    search_fields = ["profile__email", "description"]
    readonly_fields = ["profile", "fingerprint", "description", "first_seen_at", "last_seen_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RateLimitCounter)
class RateLimitCounterAdmin(admin.ModelAdmin):
    list_display = ["scope", "window_start", "count"]
    list_filter = ["scope"]
    readonly_fields = ["scope", "key", "window_start", "count"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
