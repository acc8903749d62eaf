"""Database helpers the ORM has no public API for."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.db import IntegrityError, router
from django.db.models import Model, QuerySet
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


def delete_old_by_id_ranges(
    queryset: QuerySet[Any],
    *,
    time_field: str,
    cutoff: datetime,
    batch_size: int = 5000,
    deadline: float | None = None,
) -> int:
    """Delete the queryset's rows with `time_field` before `cutoff`, one id range per statement.

    Each statement is `DELETE ... WHERE id BETWEEN a AND b AND <time_field> < cutoff`: it
    touches at most `batch_size` ids through the primary key and commits on its own (in
    autocommit), so no lock is held for long and the triggers writing new rows never wait.
    The range runs from the oldest old row's id to the newest old row's id, both read from
    the time column's index (ids grow with time; a straggler is taken by a later run).
    `deadline` (time.monotonic()) stops between batches. Returns the number of rows deleted.
    """
    old = queryset.order_by().filter(**{f"{time_field}__lt": cutoff})
    first = old.order_by(time_field).values_list("pk", flat=True).first()
    if first is None:
        return 0
    last = old.order_by(f"-{time_field}").values_list("pk", flat=True).first()
    low, high = min(first, last), max(first, last)
    deleted = 0
    while low <= high:
        if deadline is not None and time.monotonic() > deadline:
            break
        count, _ = old.filter(pk__range=(low, low + batch_size - 1)).delete()
        deleted += count
        low += batch_size
    return deleted


def delete_old_in_batches(
    queryset: QuerySet[Any],
    *,
    time_field: str,
    cutoff: datetime,
    batch_size: int = 5000,
    deadline: float | None = None,
) -> int:
    """Delete old rows `batch_size` at a time, for tables whose key is no range (UUIDs).

    Each statement deletes the ids of one `... ORDER BY <time_field> LIMIT n` read from the
    time column's index, in its own transaction.
    """
    old = queryset.order_by().filter(**{f"{time_field}__lt": cutoff})
    deleted = 0
    while deadline is None or time.monotonic() <= deadline:
        batch = old.order_by(time_field).values("pk")[:batch_size]
        count, _ = queryset.model._base_manager.filter(pk__in=batch).delete()
        deleted += count
        if count < batch_size:
            break
    return deleted
