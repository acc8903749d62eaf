from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from invites.bulk import (
    invitation_bulk_create,
    invitation_empty_lines,
    invitation_rows_parse,
    invitations_export_rows,
)
from invites.cognito_users import invitation_create_cognito_user
from invites.models import Invitation, InvitationQuerySet, InvitationStatus, SignupPolicy, SignupRefusal
from invites.services import invitation_create, invitation_extend, invitation_resend, invitation_revoke
from staff.deliveries import invitation_deliveries, invitations_with_delivery, last_email_label
from staff.invitation_forms import BulkInvitationForm, CognitoInvitationForm, InvitationValidationMixin
from staff.scale import LargeTableAdmin

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from tenants.models import UserProfile


def _short(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "—"


def _delivery_summary(deliveries: dict[int, str]) -> str:
    """' Emails: 2 sent, 1 queued.' from each invitation's latest email state."""
    if not deliveries:
        return ""
    counts: dict[str, int] = {}
    for label in deliveries.values():
        counts[label] = counts.get(label, 0) + 1
    return " Emails: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) + "."


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(InvitationStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        if self.value():
            # The plugin cannot see the status_value that with_status() annotates.
            return cast(InvitationQuerySet, queryset).with_status().filter(status_value=self.value())  # type: ignore[misc]
        return queryset


class InvitationSenderFilter(admin.RelatedOnlyFieldListFilter):
    """Staff who sent invitations: one EXISTS probe per staff account, not a DISTINCT of every invitation."""

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: Any
    ) -> list[tuple[str, StrOrPromise]]:
        sent = Invitation.objects.filter(created_by=OuterRef("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin)
        choices: list[tuple[str, StrOrPromise]] = field.get_choices(
            include_blank=False, limit_choices_to=Q(Exists(sent)), ordering=ordering
        )
        return choices


class InvitationAddForm(InvitationValidationMixin, forms.ModelForm[Invitation]):
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

    def _post_clean(self) -> None:
        # The service builds the row (hash, expiry); model validation of the half-built
        # instance would complain about the code hash it has not made yet.
        pass


@admin.register(Invitation)
class InvitationAdmin(LargeTableAdmin):
    list_display = [
        "email",
        "company",
        "role",
        "status_badge",
        "expires",
        "emails",
        "last_sent",
        # created_by is the "By created by" filter beside the list and on each invitation's
        # page; the status column carries the acceptance date.
    ]
    list_filter = [
        InvitationStatusFilter,
        ("created_by", InvitationSenderFilter),
        "created_at",
        "last_sent_at",
    ]
    # role__company: a company role's name shows its company (Role.__str__).
    list_select_related = ["company", "role", "role__company", "created_by"]
    search_fields = ["email", "company__name"]
    autocomplete_fields = ["company", "role"]
    actions = ["revoke_selected", "resend_selected", "extend_selected", "export_selected"]
    # Object tools: invite many, invite by creating the Cognito user.
    change_list_template = "admin/invites/invitation/change_list.html"
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
        "emails_queued",
        "emails_sent",
        "last_email",
        "last_sent_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        # Whether SES took each email is in its outbox row: read with the list, not per row.
        return invitations_with_delivery(super().get_queryset(request))

    @admin.display(description="emails queued")
    def emails_queued(self, obj: Invitation) -> int:
        return obj.times_sent

    @admin.display(description="sent (SES accepted)")
    def emails_sent(self, obj: Invitation) -> int:
        return getattr(obj, "emails_accepted", 0)

    @admin.display(description="last email")
    def last_email(self, obj: Invitation) -> str:
        return last_email_label(obj)

    # The list in one laptop-wide table (issue 17: Last sent, Created by and Accepted at were
    # cut off): short dates, and the emails in one column.
    @admin.display(description="emails")
    def emails(self, obj: Invitation) -> str:
        if not obj.times_sent:
            return "not emailed"
        return f"{getattr(obj, 'emails_accepted', 0)} sent · last {last_email_label(obj)}"

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: Invitation) -> str:
        return _short(obj.expires_at)

    @admin.display(description="last sent", ordering="last_sent_at")
    def last_sent(self, obj: Invitation) -> str:
        return _short(obj.last_sent_at)

    @admin.display(description="accepted", ordering="accepted_at")
    def accepted(self, obj: Invitation) -> str:
        return _short(obj.accepted_at)

    def get_autocomplete_fields(self, request: HttpRequest) -> list[str]:
        # Role autocomplete asks the role admin, which support staff may not open: a plain
        # select of roles serves them.
        if request.user.has_perm("tenants.view_role"):
            return ["company", "role"]
        return ["company"]

    def get_actions(
        self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST
    ) -> dict[str, Any]:
        # Revoke, never delete: a revoked invitation keeps who sent it and when.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("bulk/", wrap(self.bulk_view), name="invites_invitation_bulk"),
            path("cognito/", wrap(self.cognito_view), name="invites_invitation_cognito"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {"cognito_configured": bool(settings.COGNITO_USER_POOL_ID), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _codes_page(self, request: HttpRequest, issued: list[Any], title: str) -> TemplateResponse:
        # After the service committed, so the outbox has already tried each email once.
        deliveries = invitation_deliveries(item.invitation for item in issued)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "issued": issued,
            "issued_rows": [(item, deliveries[item.invitation.pk]) for item in issued],
            "title": title,
        }
        response = TemplateResponse(request, "admin/invites/invitation/bulk_codes.html", context)
        # The page holds the only copy of the codes: never cache it.
        response["Cache-Control"] = "no-store"
        return response

    def bulk_view(self, request: HttpRequest) -> HttpResponse:
        """Many invitations at once: a dry run shows every row's outcome, then create."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            form = BulkInvitationForm(initial={"company": request.GET.get("company")}, actor=request.user)
            return self._bulk_page(request, form)
        form = BulkInvitationForm(request.POST, request.FILES, actor=request.user)
        if not form.is_valid():
            return self._bulk_page(request, form)
        data = form.cleaned_data
        try:
            if "_create" not in request.POST:
                rows = invitation_rows_parse(
                    company=data["company"],
                    text=data["text"],
                    default_role=data["default_role"],
                    actor=request.user,
                )
                return self._bulk_page(request, form, rows=rows, text=data["text"])
            result = invitation_bulk_create(
                company=data["company"],
                text=data["text"],
                default_role=data["default_role"],
                created_by=request.user,
                send=data["send_email"],
                all_or_none=data["on_bad_rows"] == "none",
            )
        except ValidationError as exc:
            # A whole-input problem reads best under the rows; a field's under that field.
            form.add_error(None if hasattr(exc, "error_dict") else "rows", exc)
            return self._bulk_page(request, form)
        if not result.written:
            self.message_user(request, "Nothing was created: fix the rows marked below.", messages.ERROR)
            return self._bulk_page(request, form, rows=result.rows, text=data["text"])
        bad = len(result.bad_rows)
        self.message_user(
            request,
            f"Created {len(result.issued)} invitation(s)" + (f"; skipped {bad} bad row(s)." if bad else "."),
            messages.WARNING if bad else messages.SUCCESS,
        )
        return self._codes_page(request, result.issued, "Invitations created")

    def _bulk_page(
        self, request: HttpRequest, form: BulkInvitationForm, rows: Any = None, text: str = ""
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Invite many",
            "form": form,
            "rows": rows,
            "text": text,
            "good": sum(1 for row in rows or [] if row.ok),
            "bad": sum(1 for row in rows or [] if not row.ok),
            "empty_lines": invitation_empty_lines(text) if rows else [],
        }
        return TemplateResponse(request, "admin/invites/invitation/bulk.html", context)

    def cognito_view(self, request: HttpRequest) -> HttpResponse:
        """Invite by creating the Cognito user; Cognito sends the temporary password."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CognitoInvitationForm(
            request.POST or None, initial={"company": request.GET.get("company")}, actor=request.user
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                issued = invitation_create_cognito_user(
                    company=data["company"],
                    email=data["email"],
                    role=data["role"],
                    created_by=request.user,
                    expires_at=data["expires_at"],
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.error_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, exc)
            else:
                invitation = issued.invitation
                # invitation_create_cognito_user accepts the invitation for the new profile.
                profile = cast("UserProfile", invitation.accepted_by)
                self.message_user(
                    request,
                    f"Created the Cognito user {invitation.email}; Cognito emails them a temporary "
                    f"password. They are a member of {invitation.company} as {invitation.role.key}.",
                )
                return HttpResponseRedirect(reverse("admin:tenants_userprofile_change", args=[profile.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Invite by creating the Cognito user",
            "form": form,
            "cognito_configured": bool(settings.COGNITO_USER_POOL_ID),
        }
        return TemplateResponse(request, "admin/invites/invitation/cognito.html", context)

    def get_form(
        self, request: HttpRequest, obj: Invitation | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        if obj is None:
            # ModelAdmin builds the form without the request: bind the inviting staff member.
            kwargs["form"] = type("InvitationAddForm", (InvitationAddForm,), {"actor": request.user})
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Invitation | None = None) -> list[str]:
        return self.readonly_fields if obj else []

    # The stub's return type is a list of str-or-group; list[str] differs only by invariance.
    def get_fields(self, request: HttpRequest, obj: Invitation | None = None) -> list[str]:  # type: ignore[override]
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
            # Read when the page renders: after the add view's transaction committed and the
            # outbox tried the email, so the page says what SES did, not what was hoped.
            "email_delivery": SimpleLazyObject(lambda: invitation_deliveries([obj])[obj.pk]),
            "code": code,
            "title": "Invitation created",
        }
        response = TemplateResponse(request, "admin/invites/invitation/code_once.html", context)
        # The page holds the only copy of the code: never cache it.
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="status")
    def status_badge(self, obj: Invitation) -> str:
        if obj.status == InvitationStatus.ACCEPTED and obj.accepted_at:
            return f"{obj.status.label} {obj.accepted_at:%Y-%m-%d %H:%M}"
        return obj.status.label

    @admin.action(description="Revoke selected invitations", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        invitations = list(queryset)
        revoked = sum(invitation_revoke(invitation=inv) for inv in invitations)
        self.message_user(
            request, f"Revoked {revoked} invitation(s); {len(invitations) - revoked} were not open."
        )

    @admin.action(description="Resend with a new code", permissions=["add"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        sent = skipped = 0
        resent = []
        for invitation in queryset.select_related("company", "role"):
            try:
                resent.append(invitation_resend(invitation=invitation).invitation)
                sent += 1
            except ValidationError:
                skipped += 1
        level = messages.SUCCESS if not skipped else messages.WARNING
        self.message_user(
            request,
            f"Resent {sent} invitation(s) with new codes; skipped {skipped} not pending."
            + _delivery_summary(invitation_deliveries(resent)),
            level,
        )

    @admin.action(description="Extend validity", permissions=["add"])
    def extend_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        extended = sum(invitation_extend(invitation=inv) for inv in queryset)
        self.message_user(request, f"Extended {extended} invitation(s).")

    @admin.action(description="Export selected as CSV (no codes)", permissions=["view"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in invitations_export_rows(queryset=queryset)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="invitations-{timezone.now():%Y%m%d-%H%M}.csv"'
        )
        return response


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


@admin.register(SignupPolicy)
class SignupPolicyAdmin(admin.ModelAdmin[SignupPolicy]):
    list_display = ["__str__", "invitation_required", "signups_per_ip_per_hour", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SignupPolicy.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: SignupPolicy | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: SignupPolicy, form: Any, change: bool) -> None:
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(SignupRefusal)
class SignupRefusalAdmin(LargeTableAdmin):
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
