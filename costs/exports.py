"""CSV exports of cost reports: the same queries as the pages, scoped by ``costs.export``, and audited.

The page's export link and the API's export endpoint both call
:func:`costs_export`, so an export shows exactly what the page shows for the
same parameters, to whoever holds ``costs.export`` over those figures, and
each export is recorded (who, which figures, which filters).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from costs import report_cache, reports
from portal.csv_export import csv_lines

KINDS = {
    "totals": "one row per value of the dimension and currency",
    "series": "one row per period, value of the dimension and currency",
    "movers": "this period against the previous one of the same length, per value and currency",
}


@dataclass(frozen=True)
class Export:
    filename: str
    lines: Iterator[str]


def export_etag(user: User, query: reports.CostQuery, kind: str) -> str:
    """The entity tag of ``user``'s export of ``query``, known from the rollups' generation and the person's
    scope without reading a figure: a client that already has the export is answered 304 (nothing leaves, so
    nothing is audited)."""
    return report_cache.etag("export", reports.visible_rollups(user, policy.EXPORT), (query, kind))


def costs_export(*, actor: User, query: reports.CostQuery, kind: str = "totals") -> Export:
    """The figures of ``query`` as CSV lines, recorded in the audit log with the parameters used."""
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}")
    with transaction.atomic():
        audit.record(audit.COSTS_EXPORTED, None, actor=actor, export=kind, parameters=query.params())
    rollups = reports.visible_rollups(actor, policy.EXPORT)
    dimension = query.dimension
    column = query.column
    rows: Iterable[list[Any]]
    if kind == "series":
        header = ["period_start", dimension.name, f"{dimension.name}_name", "currency", column]
        rows = (
            [point.period, _key(point.key), point.label, point.currency, point.amount]
            for point in reports.series(rollups, query)
        )
    elif kind == "movers":
        header = [dimension.name, f"{dimension.name}_name", "currency", f"previous_{column}", column, "change"]
        rows = (
            [_key(mover.key), mover.label, mover.currency, mover.previous, mover.current, mover.change]
            for mover in reports.movers(rollups, query, limit=1000)
        )
    else:
        header = [dimension.name, f"{dimension.name}_name", "currency", column, "line_items"]
        rows = (
            [_key(row.key), row.label, currency, amount, row.line_items]
            for row in reports.breakdown_rows(rollups, query)
            for currency, amount in sorted(row.amounts.items())
        )
    filename = f"costs-{kind}-by-{dimension.name}-{query.start:%Y%m%d}-{query.end:%Y%m%d}-{timezone.now():%H%M%S}.csv"
    return Export(filename, csv_lines(header, rows))


def _key(key: str) -> str:
    return "" if key == reports.NONE else key
