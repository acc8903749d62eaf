"""Memberships in the admin: who belongs to which company, with which role, and the changes.

Every change goes through tenants.memberships (seats, the owner and the last administrator
are checked there under the company row lock). The person page lists their memberships
(read-only); the company page shows its newest members and links to this list filtered by the
company (an inline would draw every member of a 200,000-member company). Adding, role
changes, suspension, removal and ownership happen here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from staff.scale import LargeTableAdmin
from tenants.grants import role_grant_refusal, role_grantable_by
from tenants.memberships import (
    MembershipError,
    membership_add,
    membership_change_role,
    membership_reactivate,
    membership_remove,
    membership_suspend,
    ownership_transfer,
)
from tenants.models import Company, Membership, MembershipRoute, MembershipStatus, PersonErasure, Role

READ_ONLY = ("profile", "company", "role", "status", "route", "created_at", "ended_at")


class _MembershipInline(admin.TabularInline[Membership, Any]):
    model = Membership
    extra = 0
    can_delete = False
    show_change_link = True
    fields = READ_ONLY
    readonly_fields = READ_ONLY
    max_num = 0  # listed here, changed on the membership's own page

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PersonMembershipInline(_MembershipInline):
    verbose_name_plural = "memberships"
    fk_name = "profile"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("company", "role", "profile")


class MembershipAddForm(forms.ModelForm[Membership]):
    class Meta:
        model = Membership
        fields = ["profile", "company", "role"]

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        company: Company | None = data.get("company")
        role: Role | None = data.get("role")
        if company is None:
            return data
        if role is not None and role.company_id not in (None, company.pk):
            self.add_error("role", f"The role {role.key} belongs to another company.")
        elif (
            role is not None and self.actor is not None and not role_grantable_by(role=role, actor=self.actor)
        ):
            self.add_error("role", role_grant_refusal(role))
        if not company.is_active:
            self.add_error("company", "This company is suspended.")
        elif company.seat_limit is not None and company.active_members >= company.seat_limit:
            self.add_error("company", f"{company} has no free seat ({company.seat_limit} taken).")
        return data


@admin.register(Membership)
class MembershipAdmin(LargeTableAdmin):
    list_display = ["profile", "company", "role", "status", "route", "created_at", "is_owner"]
    list_filter = ["status", "route"]
    list_select_related = ["profile", "company", "company__owner", "role", "role__company"]
    search_fields = ["profile__email", "company__name", "=company__slug"]
    autocomplete_fields = ["profile", "company", "role"]
    actions = ["suspend_selected", "reactivate_selected", "remove_selected", "make_owner"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            form = MembershipAddForm

            class WithActor(form):  # type: ignore[misc,valid-type]
                def __init__(self, *args: Any, **kw: Any) -> None:
                    super().__init__(*args, actor=request.user, **kw)

            return WithActor
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only the role changes on an existing membership (through membership_change_role).
        return ["profile", "company", "status", "route", "created_at", "ended_at"] if obj else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["profile", "company", "role"]
        return ["profile", "company", "role", "status", "route", "created_at", "ended_at"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not change:
            # clean() checked seats and the company; a race that lost them raises here.
            saved = membership_add(
                profile=obj.profile, company=obj.company, role=obj.role, route=MembershipRoute.STAFF
            )
            obj.pk = saved.pk
            return
        if "role" in form.changed_data and obj.role is not None:
            current = Membership.objects.get(pk=obj.pk)
            membership_change_role(membership=current, role=obj.role)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Removing ends a membership (the record stays); nothing here deletes one.
        return False

    @admin.display(description="owner", boolean=True)
    def is_owner(self, obj: Membership) -> bool:
        return obj.company.owner_id == obj.profile_id

    def _each(self, request: HttpRequest, queryset: QuerySet[Membership], change: Any, verb: str) -> None:
        done, refused = 0, []
        for membership in queryset.select_related("profile", "company", "role"):
            try:
                done += bool(change(membership=membership))
            except MembershipError as error:
                refused.append(f"{membership.profile} in {membership.company}: {error.message}")
        self.message_user(request, f"{verb} {done} membership(s).")
        for line in refused[:20]:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Suspend in this company only", permissions=["change"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(request, queryset.filter(status=MembershipStatus.ACTIVE), membership_suspend, "Suspended")

    @admin.action(description="Reactivate", permissions=["change"])
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(
            request, queryset.filter(status=MembershipStatus.SUSPENDED), membership_reactivate, "Reactivated"
        )

    @admin.action(description="Remove from the company (ends the membership)", permissions=["change"])
    def remove_selected(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(request, queryset.exclude(status=MembershipStatus.ENDED), membership_remove, "Removed")

    @admin.action(description="Make the company's owner (transfer ownership)", permissions=["change"])
    def make_owner(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(
            request,
            queryset,
            lambda membership: ownership_transfer(company=membership.company, to=membership.profile),
            "Transferred ownership of",
        )


@admin.register(PersonErasure)
class PersonErasureAdmin(admin.ModelAdmin[PersonErasure]):
    """Who erased whom and when: read-only, holding none of the erased data."""

    list_display = ["profile_id", "erased_by", "erased_at"]
    readonly_fields = ["profile_id", "erased_by", "erased_at", "tables"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
