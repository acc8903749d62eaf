"""Admin changelists that stay fast on tables of hundreds of thousands of rows.

Three costs dominate a changelist on a big table (measured by bench/admin_scale.py):

- counting: the paginator runs COUNT(*) over the whole table on every page, and a second
  one for "n of N" (show_full_result_count). Unfiltered, the planner's own estimate is
  read instead; any filter or search still gets an exact count.
- search: Django's admin search ORs `UPPER(col::text) LIKE UPPER('%q%')` over every search
  field, joining the related tables (`company__name`), so Postgres cannot combine indexes
  and scans the whole table, several times a page (count, page, date hierarchy). Here a
  related field becomes `fk_id = ANY(ARRAY(SELECT id FROM related WHERE ...))`: the
  subquery runs once and the foreign-key index serves the rest, so every arm of the OR
  is an index scan (the trigram GIN indexes on UPPER(col) serve the LIKE arms).
- sorting: the default ordering needs an index (see the models' Meta.indexes).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.postgres.expressions import ArraySubquery
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BooleanField, F, Field, Func, Model, Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

# Below this many rows (by the planner's estimate) an unfiltered list is counted exactly.
ESTIMATE_FROM_ROWS = 50_000


class EstimatedCountPaginator(Paginator[Any]):
    """Count an unfiltered changelist from the planner's estimate; anything filtered exactly.

    One query either way, so the page's query count does not depend on the table's size:
    Postgres runs the COUNT(*) sub-select only when the estimate is below the threshold or
    the table was never analysed.
    """

    estimate_from_rows = ESTIMATE_FROM_ROWS

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not isinstance(qs, QuerySet) or not _unfiltered(qs):
            return super().count
        connection = connections[qs.db]
        table = connection.ops.quote_name(qs.model._meta.db_table)
        # The planner's estimate: rows per page at the last ANALYZE times the pages now. The
        # table name is the model's own, quoted; the values are parameters.
        sql = f"""
            SELECT CASE WHEN est >= %s THEN est ELSE (SELECT COUNT(*) FROM {table}) END
            FROM (
                SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN -1
                       ELSE (c.reltuples / c.relpages
                             * (pg_relation_size(c.oid) / current_setting('block_size')::int))::bigint
                       END AS est
                FROM pg_class c WHERE c.oid = %s::regclass
            ) estimate
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.estimate_from_rows, qs.model._meta.db_table])
            return int(cursor.fetchone()[0])


def _unfiltered(qs: QuerySet[Any]) -> bool:
    query = qs.query
    return not (
        query.where or query.distinct or query.combinator or query.low_mark or query.high_mark is not None
    )


class _EqualsAny(Func):
    """`column = ANY(ARRAY(SELECT ...))`: an index condition, unlike `column IN (SELECT ...)` in an OR."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def search_q(model: type[Model], spec: str, term: str) -> Q:
    """The condition one search field puts on one search term.

    `spec` is a search_fields entry: "email" (contains, case-insensitive), "=cognito_sub"
    (the whole value, exactly: identifiers, so the plain B-tree index serves it), or a path
    through forward foreign keys ("company__name"), searched in the related table.
    """
    exact = spec.startswith("=")
    path = spec.lstrip("=")
    lookup = "exact" if exact else "icontains"
    first, _, rest = path.partition("__")
    field = model._meta.get_field(first)
    if not rest or not (field.many_to_one or field.one_to_one) or field.auto_created:
        return Q(**{f"{path}__{lookup}": term})
    # A forward many-to-one or one-to-one field: a concrete Field with a related model.
    related = cast("type[Model]", field.related_model)
    ids = related._default_manager.filter(**{f"{rest}__{lookup}": term}).order_by().values("pk")
    return Q(_EqualsAny(F(cast("Field[Any, Any]", field).attname), ArraySubquery(ids)))


class LargeTableAdmin(admin.ModelAdmin[Any]):
    """A ModelAdmin for a table of hundreds of thousands of rows: see the module docstring."""

    paginator = EstimatedCountPaginator
    # "n of N total" would cost a second count of the whole table on every filtered page.
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        fields = self.get_search_fields(request)
        if not fields or not search_term.strip():
            return queryset, False
        matches = self.model._default_manager.order_by()
        # Like Django's: every word (or "quoted phrase") must match one of the fields.
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            if not bit:
                continue
            condition = Q()
            for spec in fields:
                condition |= search_q(self.model, spec, bit)
            matches = matches.filter(condition)
        # `pk IN (matches)` rather than the condition itself: a semi-join keeps Postgres from
        # answering the date hierarchy's MIN/MAX (or a LIMIT) by walking the created_at index
        # and filtering row by row, which for rare, recent matches reads the whole table. No
        # join is added, so no row can repeat.
        return queryset.filter(pk__in=matches.values("pk")), False
