"""The request's caller, in the shapes the views hand to tenants: access, audit actor, request id."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.http import HttpRequest

from api.tokens import Principal
from tenants.access import MemberAccess, member_access
from tenants.audit import AuditActor, audit_record
from tenants.models import AuditActorKind

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(request: HttpRequest) -> str:
    """The caller's X-Request-Id when well formed, else Lambda's request id, else a new one."""
    given = request.headers.get("X-Request-Id", "")
    if REQUEST_ID_RE.match(given):
        return given
    context = getattr(request, "scope", {}).get("aws.context")
    aws_id = getattr(context, "aws_request_id", "")
    return aws_id if isinstance(aws_id, str) and aws_id else uuid.uuid4().hex


def principal(request: HttpRequest) -> Principal:
    auth: Principal = request.auth  # type: ignore[attr-defined]
    return auth


def caller(request: HttpRequest, company_id: int | None, permission: str | None = None) -> MemberAccess:
    """The caller's standing in `company_id` (None: the active company), read now from the database."""
    who = principal(request)
    return member_access(
        sub=who.sub, company_id=company_id, permission=permission, client_company_id=who.client_company_id
    )


def actor_of(request: HttpRequest, access: MemberAccess) -> AuditActor:
    """The audit actor: this member, through the token's app client."""
    return AuditActor(
        kind=AuditActorKind.MEMBER,
        id=f"profile:{access.profile.pk}",
        via_client_id=principal(request).client_id,
    )


def record(
    request: HttpRequest,
    access: MemberAccess,
    *,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit event for a change this request made, by this member through this app client."""
    audit_record(
        actor=actor_of(request, access),
        company=access.company,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=getattr(request, "request_id", ""),
    )
