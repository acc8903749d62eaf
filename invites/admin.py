from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from invites.models import Invitation, InvitationStatus, SignupPolicy, SignupRefusal
from invites.services import (
    invitation_create,
    invitation_extend,
    invitation_resend,
    invitation_revoke,
    invitation_validate,
)


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(InvitationStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        if self.value():
            return queryset.with_status().filter(status_value=self.value())  # type: ignore[attr-defined]
        return queryset


class InvitationAddForm(forms.ModelForm):
    send_email = forms.BooleanField(
        required=False, initial=True, help_text="Email the invitation with its code now."
    )

    class Meta:
        model = Invitation
        fields = ["company", "email", "role", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].required = False
        self.fields["expires_at"].help_text = "Empty: the default validity from settings."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        company, role, email = cleaned.get("company"), cleaned.get("role"), cleaned.get("email")
        if company and role and email:
            try:
                cleaned["email"] = invitation_validate(company=company, email=email, role=role)
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict) from exc
        return cleaned

    def _post_clean(self) -> None:
        # The service builds the row (hash, expiry); model validation of the half-built
        # instance would complain about the code hash it has not made yet.
        pass


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "company",
        "role",
        "status_badge",
        "expires_at",
        "times_sent",
        "created_by",
        "accepted_at",
    ]
    list_filter = [InvitationStatusFilter, "created_at"]
    list_select_related = ["company", "role", "created_by"]
    search_fields = ["email", "company__name"]
    autocomplete_fields = ["company", "role"]
    actions = ["revoke_selected", "resend_selected", "extend_selected"]
    readonly_fields = [
        "email",
        "company",
        "role",
        "status_badge",
        "expires_at",
        "created_by",
        "created_at",
        "accepted_by",
        "accepted_at",
        "revoked_at",
        "times_sent",
        "last_sent_at",
    ]

    def get_form(self, request: HttpRequest, obj: Invitation | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = InvitationAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Invitation | None = None) -> list[str]:
        return self.readonly_fields if obj else []

    def get_fields(self, request: HttpRequest, obj: Invitation | None = None) -> list[str]:
        if obj is None:
            return ["company", "email", "role", "expires_at", "send_email"]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        # Invitations change through actions (revoke, resend, extend), never by editing.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        issued = invitation_create(
            company=form.cleaned_data["company"],
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            expires_at=form.cleaned_data.get("expires_at"),
            created_by=request.user,
            send=form.cleaned_data.get("send_email", False),
        )
        obj.__dict__.update(issued.invitation.__dict__)
        obj._state.adding = False
        request._gatehouse_issued_code = issued.code  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Invitation, post_url_continue: Any = None
    ) -> HttpResponse:
        code = getattr(request, "_gatehouse_issued_code", None)
        if code is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "invitation": obj,
            "code": code,
            "title": "Invitation created",
        }
        response = TemplateResponse(request, "admin/invites/invitation/code_once.html", context)
        # The page holds the only copy of the code: never cache it.
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="status")
    def status_badge(self, obj: Invitation) -> str:
        return obj.status.label

    @admin.action(description="Revoke selected invitations", permissions=["delete"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        revoked = sum(invitation_revoke(invitation=inv) for inv in queryset)
        self.message_user(
            request, f"Revoked {revoked} invitation(s); {queryset.count() - revoked} were not open."
        )

    @admin.action(description="Resend with a new code", permissions=["add"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        sent = skipped = 0
        for invitation in queryset.select_related("company", "role"):
            try:
                invitation_resend(invitation=invitation)
                sent += 1
            except ValidationError:
                skipped += 1
        level = messages.SUCCESS if not skipped else messages.WARNING
        self.message_user(
            request, f"Resent {sent} invitation(s) with new codes; skipped {skipped} not pending.", level
        )

    @admin.action(description="Extend validity", permissions=["add"])
    def extend_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        extended = sum(invitation_extend(invitation=inv) for inv in queryset)
        self.message_user(request, f"Extended {extended} invitation(s).")


@admin.register(SignupPolicy)
class SignupPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "invitation_required", "signups_per_ip_per_hour", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SignupPolicy.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: SignupPolicy | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: SignupPolicy, form: Any, change: bool) -> None:
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(SignupRefusal)
class SignupRefusalAdmin(admin.ModelAdmin):
    list_display = ["created_at", "reason", "email", "trigger_source", "company", "invitation"]
    list_filter = ["reason", "trigger_source"]
    list_select_related = ["company", "invitation"]
    search_fields = ["email", "detail"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "trigger_source",
        "reason",
        "email",
        "detail",
        "invitation",
        "company",
        "user_pool_id",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SignupRefusal | None = None) -> bool:
        return False
