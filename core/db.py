"""Database helpers the ORM has no public API for."""

from __future__ import annotations

from django.db import IntegrityError, router
from django.db.models import Model
from django.db.models.constants import OnConflict


def insert_unless_exists(instance: Model) -> bool:
    """INSERT a new row unless a unique constraint already holds it; True when inserted.

    One statement, `INSERT ... ON CONFLICT DO NOTHING RETURNING ...`, where get_or_create
    sends four (SELECT, SAVEPOINT, INSERT, RELEASE). Under a concurrent insert of the same
    key it waits for the other transaction and then inserts nothing, like get_or_create
    (which catches the IntegrityError). When inserted, the instance gets its primary key
    and database defaults, as save() would. On False, the caller reads the existing row
    by its key: if none is found, the conflict was on another unique constraint, which
    get_or_create would have raised as an IntegrityError (see `existing_or_raise`).
    """
    model = type(instance)
    meta = model._meta
    using = router.db_for_write(model, instance=instance)
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    returning = list(meta.db_returning_fields)
    for field in fields:
        # What save() does: pre_save fills auto_now(_add); an expression (db_default) is read back.
        if hasattr(field.pre_save(instance, add=True), "resolve_expression") and field not in returning:
            returning.append(field)
    rows = model._base_manager.using(using)._insert(  # type: ignore[attr-defined]
        [instance], fields=fields, returning_fields=returning, using=using, on_conflict=OnConflict.IGNORE
    )
    if not rows:
        return False
    for value, field in zip(rows[0], returning, strict=False):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = using
    return True


def existing_or_raise[M: Model](found: M | None, *, what: str) -> M:
    """The row an insert_unless_exists conflicted with, or the IntegrityError get_or_create raises."""
    if found is None:
        raise IntegrityError(f"{what}: the insert conflicted on another unique constraint")
    return found
