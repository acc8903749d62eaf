"""What the API takes and gives: pydantic schemas, the OpenAPI document is made from them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

ProblemFieldError = dict[str, str]


class PageIn(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class MemberFilters(PageIn):
    search: str = Field("", max_length=100, description="Part of an email or a name.")
    role: str = Field("", max_length=64, description="A role key, like ADMIN.")
    status: Literal["active", "suspended", "ended"] | None = None


class InvitationFilters(PageIn):
    status: Literal["pending", "accepted", "expired", "revoked"] | None = None


class ProblemOut(Schema):
    """RFC 9457 problem details (served as application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemFieldError] | None = None
    request_id: str | None = None


class CompanyRef(Schema):
    id: int
    name: str
    slug: str


class RoleOut(Schema):
    id: int
    key: str
    name: str
    permissions: list[str]
    company_id: int | None


class MembershipOut(Schema):
    company: CompanyRef
    role: str | None
    status: str


class PendingInvitationOut(Schema):
    id: int
    company: CompanyRef
    role: str
    expires_at: datetime


class ProfileOut(Schema):
    id: int
    email: str
    given_name: str
    family_name: str
    preferences: dict[str, object]


class MeOut(Schema):
    profile: ProfileOut
    active_company: CompanyRef | None
    role: str | None
    permissions: list[str]
    flags: dict[str, bool]
    memberships: list[MembershipOut]
    pending_invitations: list[PendingInvitationOut]


class NotificationsIn(Schema):
    email: bool | None = None
    product_updates: bool | None = None


class PreferencesIn(Schema):
    theme: Literal["light", "dark", "system"] | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    notifications: NotificationsIn | None = None


class PreferencesOut(Schema):
    preferences: dict[str, object]


class ActiveCompanyIn(Schema):
    company_id: int


class MemberOut(Schema):
    id: int
    profile_id: int
    email: str
    given_name: str
    family_name: str
    role: str | None
    status: str
    route: str
    is_owner: bool
    created_at: datetime


class MemberPage(Schema):
    count: int
    items: list[MemberOut]


class RoleChangeIn(Schema):
    role_id: int


class OwnerIn(Schema):
    member_id: int


class ChangedOut(Schema):
    changed: bool


class InvitationOut(Schema):
    id: int
    email: str
    role: str
    status: str
    expires_at: datetime
    times_sent: int
    created_at: datetime


class InvitationPage(Schema):
    count: int
    items: list[InvitationOut]


class InvitationIn(Schema):
    email: str = Field(..., max_length=254)
    role_id: int
    send: bool = True


class IssuedInvitationOut(Schema):
    invitation: InvitationOut
    code: str = Field(..., description="Shown once, here; Gatehouse keeps only its hash.")


class ExtendIn(Schema):
    days: int = Field(14, ge=1, le=90)


class FlagOut(Schema):
    key: str
    enabled: bool
    reason: str
    description: str


class AuditEventOut(Schema):
    id: int
    actor_kind: str
    actor_id: str
    actor_label: str
    via_client_id: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, object]
    after: dict[str, object]
    request_id: str
    created_at: datetime


class AuditPage(Schema):
    count: int
    items: list[AuditEventOut]


class BulkInvitationIn(Schema):
    text: str = Field(..., description="One invitation a line: email[,role key[,expiry YYYY-MM-DD]].")
    default_role_id: int | None = None
    dry_run: bool = Field(True, description="Check every line and write nothing.")
    all_or_none: bool = Field(True, description="Any bad line writes nothing.")
    send: bool = True


class BulkRowOut(Schema):
    line: int
    email: str
    role: str
    error: str


class BulkInvitationOut(Schema):
    written: bool
    rows: list[BulkRowOut]
    issued: list[IssuedInvitationOut] = Field(..., description="The codes, shown once, here.")
