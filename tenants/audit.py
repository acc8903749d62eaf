"""The audit trail: one record function every entry point calls after a change it made.

The admin, the tenant API, the triggers and later SCIM say who acted (an `AuditActor`),
what they did to which object, and the fields that changed; the row is written in the
caller's transaction, so a change rolled back leaves no event behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from tenants.models import AuditActorKind, AuditEvent, Company


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who acted: `id` is stable (profile:<id>, staff:<id>, a client id); `label` is for people reading."""

    kind: AuditActorKind
    id: str
    label: str = ""
    via_client_id: str = ""


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the keys whose value differs (keys present on one side only count as changed)."""
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after}


def audit_record(
    *,
    actor: AuditActor,
    company: Company | None,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str = "",
) -> AuditEvent:
    """Record one change. `before`/`after` are reduced to the fields that changed."""
    old, new = changed_fields(before or {}, after or {})
    return AuditEvent.objects.create(
        actor_kind=actor.kind,
        actor_id=actor.id[:128],
        actor_label=actor.label[:200],
        via_client_id=actor.via_client_id[:128],
        company=company,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        before=old,
        after=new,
        request_id=request_id[:64],
    )


def audit_record_many(
    *,
    actor: AuditActor,
    company: Company | None,
    action: str,
    object_type: str,
    changes: list[tuple[object, dict[str, Any], dict[str, Any]]],
    request_id: str = "",
) -> int:
    """Record the same action on many objects (object id, before, after) in one INSERT."""
    events = []
    for object_id, before, after in changes:
        old, new = changed_fields(before, after)
        events.append(
            AuditEvent(
                actor_kind=actor.kind,
                actor_id=actor.id[:128],
                actor_label=actor.label[:200],
                via_client_id=actor.via_client_id[:128],
                company=company,
                action=action,
                object_type=object_type,
                object_id=str(object_id)[:64],
                before=old,
                after=new,
                request_id=request_id[:64],
            )
        )
    return len(AuditEvent.objects.bulk_create(events))


def company_audit_events(*, company: Company) -> QuerySet[AuditEvent]:
    """The company's events, newest first."""
    return AuditEvent.objects.filter(company=company).order_by("-created_at", "-id")
