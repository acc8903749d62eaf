"""What a company has: roles, feature flags, its audit trail."""

# No `from __future__ import annotations`: Django Ninja reads these views' annotations at
# import time, and through @transaction.atomic it would look them up in the wrong module.
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from api.context import caller
from api.schemas import AuditPage, FlagOut, PageIn, RoleOut
from tenants.audit import company_audit_events
from tenants.selectors import company_flag_report, company_roles

router = Router(tags=["company"])


@router.get("/companies/{company_id}/roles", response=list[RoleOut])
def role_list(request: HttpRequest, company_id: int) -> Any:
    access = caller(request, company_id, "roles:read")
    return company_roles(company=access.company)


@router.get("/companies/{company_id}/flags", response=list[FlagOut])
def flag_list(request: HttpRequest, company_id: int) -> Any:
    """Every flag's value for the company and why; any active member may read them."""
    access = caller(request, company_id)
    return company_flag_report(company=access.company)


@router.get("/companies/{company_id}/audit", response=AuditPage)
def audit_list(
    request: HttpRequest,
    company_id: int,
    page: Query[PageIn],
) -> dict[str, Any]:
    access = caller(request, company_id, "company:manage")
    events = company_audit_events(company=access.company)
    return {"count": events.count(), "items": list(events[page.offset : page.offset + page.limit])}
