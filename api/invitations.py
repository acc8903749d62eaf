"""A company's invitations: list, create (the code is answered once), resend, revoke, extend."""

# No `from __future__ import annotations`: Django Ninja reads these views' annotations at
# import time, and through @transaction.atomic it would look them up in the wrong module.
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Query, Router, Status

from api.context import actor_of, caller, record
from api.problems import Problem
from api.schemas import (
    BulkInvitationIn,
    BulkInvitationOut,
    ChangedOut,
    ExtendIn,
    InvitationFilters,
    InvitationIn,
    InvitationOut,
    InvitationPage,
    IssuedInvitationOut,
)
from invites.bulk import invitation_bulk_create, invitation_rows_parse
from invites.models import Invitation
from invites.selectors import company_invitations
from invites.services import invitation_create, invitation_extend, invitation_resend, invitation_revoke
from tenants.access import MemberAccess
from tenants.audit import audit_record_many
from tenants.selectors import company_role

router = Router(tags=["invitations"])
INVITE = "users:invite"


def invitation_out(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role.key,
        "status": invitation.status,
        "expires_at": invitation.expires_at,
        "times_sent": invitation.times_sent,
        "created_at": invitation.created_at,
    }


def _invitation(access: MemberAccess, invitation_id: int) -> Invitation:
    invitation = company_invitations(company=access.company).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404
    return invitation


@router.get("/companies/{company_id}/invitations", response=InvitationPage)
def invitation_list(
    request: HttpRequest,
    company_id: int,
    filters: Query[InvitationFilters],
) -> dict[str, Any]:
    access = caller(request, company_id, INVITE)
    invitations = company_invitations(company=access.company, status=filters.status or "")
    page = invitations[filters.offset : filters.offset + filters.limit]
    return {"count": invitations.count(), "items": [invitation_out(i) for i in page]}


@router.post("/companies/{company_id}/invitations", response={201: IssuedInvitationOut})
@transaction.atomic
def invitation_new(request: HttpRequest, company_id: int, payload: InvitationIn) -> Any:
    access = caller(request, company_id, INVITE)
    role = company_role(company=access.company, role_id=payload.role_id)
    if role is None:
        raise Problem("invalid-request", errors=[{"field": "role_id", "message": "No such role here."}])
    issued = invitation_create(
        company=access.company,
        email=payload.email,
        role=role,
        send=payload.send,
        grantor_permissions=access.permissions,
    )
    invitation = issued.invitation
    record(
        request,
        access,
        action="invitation.create",
        object_type="invitation",
        object_id=invitation.pk,
        after={"role": role.key, "expires_at": invitation.expires_at.isoformat()},
    )
    return Status(201, {"invitation": invitation_out(invitation), "code": issued.code})


@router.post("/companies/{company_id}/invitations/{invitation_id}/resend", response=InvitationOut)
@transaction.atomic
def invitation_send_again(request: HttpRequest, company_id: int, invitation_id: int) -> Any:
    """A new code goes to the invitee by email; the API never answers it (it did once, at creation)."""
    access = caller(request, company_id, INVITE)
    issued = invitation_resend(invitation=_invitation(access, invitation_id))
    record(
        request,
        access,
        action="invitation.resend",
        object_type="invitation",
        object_id=invitation_id,
        after={"times_sent": issued.invitation.times_sent},
    )
    return invitation_out(issued.invitation)


@router.post("/companies/{company_id}/invitations/{invitation_id}/revoke", response=ChangedOut)
@transaction.atomic
def invitation_withdraw(request: HttpRequest, company_id: int, invitation_id: int) -> Any:
    access = caller(request, company_id, INVITE)
    changed = invitation_revoke(invitation=_invitation(access, invitation_id))
    if changed:
        record(
            request,
            access,
            action="invitation.revoke",
            object_type="invitation",
            object_id=invitation_id,
            before={"status": "pending"},
            after={"status": "revoked"},
        )
    return {"changed": changed}


@router.post("/companies/{company_id}/invitations/{invitation_id}/extend", response=InvitationOut)
@transaction.atomic
def invitation_prolong(request: HttpRequest, company_id: int, invitation_id: int, payload: ExtendIn) -> Any:
    access = caller(request, company_id, INVITE)
    invitation = _invitation(access, invitation_id)
    if not invitation_extend(invitation=invitation, days=payload.days):
        raise Problem("conflict", "Only an open invitation can be extended.")
    extended = _invitation(access, invitation_id)
    record(
        request,
        access,
        action="invitation.extend",
        object_type="invitation",
        object_id=invitation_id,
        before={"expires_at": invitation.expires_at.isoformat()},
        after={"expires_at": extended.expires_at.isoformat()},
    )
    return invitation_out(extended)


@router.post("/companies/{company_id}/invitations/bulk", response=BulkInvitationOut)
@transaction.atomic
def invitation_bulk(request: HttpRequest, company_id: int, payload: BulkInvitationIn) -> Any:
    """Many at once, by the admin's rules: a dry run first; all or none by default."""
    access = caller(request, company_id, INVITE)
    default_role = None
    if payload.default_role_id is not None:
        default_role = company_role(company=access.company, role_id=payload.default_role_id)
        if default_role is None:
            raise Problem(
                "invalid-request", errors=[{"field": "default_role_id", "message": "No such role here."}]
            )
    company, text, held = access.company, payload.text, access.permissions
    if payload.dry_run:
        rows = invitation_rows_parse(
            company=company, text=text, default_role=default_role, grantor_permissions=held
        )
        issued, written = [], False
    else:
        result = invitation_bulk_create(
            company=company,
            text=text,
            default_role=default_role,
            grantor_permissions=held,
            send=payload.send,
            all_or_none=payload.all_or_none,
        )
        rows, issued, written = result.rows, result.issued, result.written
        audit_record_many(
            actor=actor_of(request, access),
            company=access.company,
            action="invitation.create",
            object_type="invitation",
            changes=[
                (
                    i.invitation.pk,
                    {},
                    {"role": i.invitation.role.key, "expires_at": i.invitation.expires_at.isoformat()},
                )
                for i in issued
            ],
            request_id=getattr(request, "request_id", ""),
        )
    return {
        "written": written,
        "rows": [{"line": r.line, "email": r.email, "role": r.role_key, "error": r.error} for r in rows],
        "issued": [{"invitation": invitation_out(i.invitation), "code": i.code} for i in issued],
    }
