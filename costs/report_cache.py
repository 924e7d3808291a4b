"""Cost reports kept in the cache, per scope, until the rollups change.

A report is keyed by three things, so one person's figures are never served to another and a change is seen at
once:

- the rollups' generation: the last value of a sequence that a PostgreSQL trigger moves after every statement
  that changes the rollup table (an import, a reattribution, an allocation, the demo, a test's ``bulk_create``)
  and every change of a team's or service's name. A sequence moves before its writer commits, so a report read
  in between would be kept under the new number with the old figures: the one writer of the portal,
  :func:`costs.store.rebuild_rollups`, moves it once more after it commits (:func:`moved`).
- the person's scope: the policy's own restriction of the rollups (``policy.restrict``), as the SQL it filters
  them with, the grant values included (teams, regions, zones, tiers, an API token's team). People whose
  restriction is the same (every manager: none) share entries; anyone else's differ. Grants are read afresh on
  every request, so a revoked grant changes the key at once.
- the report and its parameters (the day it is seen on, the dates, the dimension, the filters, the basis), and
  the shape of what is kept (:func:`shape_of`), so a release that changes it never reads an older one's entries.

Old entries are never deleted: nothing asks for their keys any more, and they expire after :data:`TIMEOUT`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from costs.models import CostRollup

T = TypeVar("T")

TIMEOUT = 60 * 60
PREFIX = "costs:report"
SEQUENCE = "costs_rollup_generation"  # created by migration 0010, moved by its triggers


def shape_of(*classes: type) -> str:
    """A digest of the dataclasses a report is made of (their names and fields), for its cache key."""
    shape = [(cls.__module__, cls.__qualname__, [field.name for field in fields(cls)]) for cls in classes]
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:12]


def rollup_generation() -> int:
    """The rollups' current version (one read of a sequence, which takes no lock)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE}")  # noqa: S608 - a constant name  # nosec B608
        value, called = cursor.fetchone()
    return int(value) if called else 0


def moved() -> None:
    """Move the generation on: called once a change of the rollups is committed (see the module's notes)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [SEQUENCE])


def scope_key(rollups: QuerySet[CostRollup]) -> str:
    """What ``rollups`` (the policy's restriction for one person and action) lets through, as a short digest."""
    try:
        sql, params = rollups.query.sql_with_params()
    except EmptyResultSet:  # the policy lets nothing through
        return "none"
    return hashlib.sha256(repr((sql, params)).encode()).hexdigest()[:32]


def report_key(report: str, rollups: QuerySet[CostRollup], parameters: tuple[Any, ...]) -> str:
    """What names a report's figures: the rollups' generation, the scope and the parameters."""
    generation = rollup_generation()  # read before the report: a change committed meanwhile keys a new entry
    digest = hashlib.sha256(repr(parameters).encode()).hexdigest()[:32]
    return f"{PREFIX}:{report}:{generation}:{scope_key(rollups)}:{digest}"


def etag(report: str, rollups: QuerySet[CostRollup], parameters: tuple[Any, ...]) -> str:
    """An entity tag for a report's figures, known without reading them: a client that has them revalidates
    for the price of reading the generation."""
    return f'"{hashlib.sha256(report_key(report, rollups, parameters).encode()).hexdigest()[:32]}"'


def cached(report: str, rollups: QuerySet[CostRollup], parameters: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave before for the same generation of the rollups, scope and parameters."""
    key = report_key(report, rollups, parameters)
    found: T | None = cache.get(key)
    if found is not None:
        return found
    value = compute()
    cache.set(key, value, TIMEOUT)
    return value
