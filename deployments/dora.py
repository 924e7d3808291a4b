"""The four DORA metrics of production deployments, per team or service over a period.

- **Deployment frequency**: production deployments that went out (succeeded,
  or later rolled back), per day, with their daily series. Rollbacks are not
  counted: they undo a change rather than ship one.
- **Lead time for changes**: the median time from the commit to the
  deployment finishing in production, over deployments whose commit time is
  known (pipeline reports carry it; cluster syncs alone do not).
- **Change failure rate**: of those deployments plus the failed ones, the
  share that failed, were rolled back or failed their post-deploy smoke test.
- **Time to restore**: the median time from a failed deployment to the next
  successful deployment (a rollback or a fix) at the same place.

Only deployments the user may see count (the caller passes a queryset the
policy restricted).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from access.models import Tier
from deployments.choices import DeploymentSource, DeploymentStatus, SmokeTest
from deployments.models import Deployment

FIELDS = (
    "pk",
    "status",
    "smoke_test",
    "started_at",
    "finished_at",
    "commit_at",
    "service_id",
    "environment_id",
    "cluster_id",
    "namespace",
    "workload_id",
)
SHIPPED = (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK)
FAILED = (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)


@dataclass(frozen=True)
class DailyPoint:
    day: date
    deployments: int
    failures: int


@dataclass(frozen=True)
class Dora:
    """The metrics over ``start``..``end`` (end exclusive); a metric with nothing to measure is None."""

    start: date
    end: date
    deployments: int
    failures: int
    deployments_per_day: float
    lead_time: timedelta | None
    change_failure_rate: float | None
    time_to_restore: timedelta | None
    restored: int
    daily: list[DailyPoint]

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=zone),
        datetime.combine(end, datetime.min.time(), tzinfo=zone),
    )


def _failed(row: dict[str, Any]) -> bool:
    return (
        row["status"] in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)
        or row["smoke_test"] == SmokeTest.FAILED
    )


def _median(values: Iterable[timedelta]) -> timedelta | None:
    seconds = [value.total_seconds() for value in values]
    return timedelta(seconds=statistics.median(seconds)) if seconds else None


def _measured(production: QuerySet[Deployment], *, start: date, end: date) -> list[dict[str, Any]]:
    """The production deployments that started in [start, end) and count: finished ones, rollbacks left out."""
    since, until = _bounds(start, end)
    window = production.filter(started_at__gte=since, started_at__lt=until).exclude(source=DeploymentSource.ROLLBACK)
    return list(window.exclude(status=DeploymentStatus.IN_PROGRESS).values(*FIELDS))


def dora(deployments: QuerySet[Deployment], *, start: date, end: date) -> Dora:
    """The DORA metrics of the production deployments in ``deployments`` that started in [start, end)."""
    production = deployments.filter(tier=Tier.PRODUCTION)
    rows = _measured(production, start=start, end=end)
    failures = [row for row in rows if _failed(row)]
    shipped = [row for row in rows if row["status"] in SHIPPED]
    lead_times = [
        (row["finished_at"] or row["started_at"]) - row["commit_at"]
        for row in shipped
        if row["commit_at"] is not None and (row["finished_at"] or row["started_at"]) >= row["commit_at"]
    ]
    restores = _restore_times(production, failures)
    per_day = Counter(timezone.localdate(row["started_at"]) for row in shipped)
    failures_per_day = Counter(timezone.localdate(row["started_at"]) for row in failures)
    days = max((end - start).days, 1)
    return Dora(
        start=start,
        end=end,
        deployments=len(shipped),
        failures=len(failures),
        deployments_per_day=len(shipped) / days,
        lead_time=_median(lead_times),
        change_failure_rate=len(failures) / len(rows) if rows else None,
        time_to_restore=_median(restores),
        restored=len(restores),
        daily=[
            DailyPoint(day, per_day.get(day, 0), failures_per_day.get(day, 0))
            for day in (start + timedelta(days=offset) for offset in range(days))
        ],
    )


@dataclass(frozen=True)
class ChangeFailures:
    """One service's change failure rate: of ``deployments`` measured, ``failures`` failed (as :func:`dora` counts)."""

    deployments: int
    failures: int

    @property
    def rate(self) -> float | None:
        return self.failures / self.deployments if self.deployments else None


def change_failures_by_service(
    deployments: QuerySet[Deployment], *, start: date, end: date
) -> dict[int, ChangeFailures]:
    """The change failure rate of every service over [start, end), in one query for all of them.

    The same figure :func:`dora` gives for ``deployments.filter(service=...)``: the same deployments are
    measured and the same ones count as failed. A service with no deployment measured is absent.
    """
    counts: dict[int, list[int]] = {}
    for row in _measured(deployments.filter(tier=Tier.PRODUCTION, service__isnull=False), start=start, end=end):
        measured = counts.setdefault(row["service_id"], [0, 0])
        measured[0] += 1
        measured[1] += int(_failed(row))
    return {service: ChangeFailures(total, failed) for service, (total, failed) in counts.items()}


def _place(row: dict[str, Any]) -> tuple[Any, ...]:
    """Where a deployment went, as :class:`deployments.services.Target` compares places."""
    if row["service_id"] is not None and row["environment_id"] is not None:
        return ("environment", row["service_id"], row["environment_id"])
    if row["service_id"] is not None and row["cluster_id"] is not None:
        return ("namespace", row["service_id"], row["cluster_id"], row["namespace"])
    if row["workload_id"] is not None:
        return ("workload", row["workload_id"])
    return ("service", row["service_id"])


def _restore_times(production: QuerySet[Deployment], failures: list[dict[str, Any]]) -> list[timedelta]:
    """For each failure, how long until the next deployment at its place succeeded (one query for all)."""
    if not failures:
        return []
    successes: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    later = (
        production.filter(status=DeploymentStatus.SUCCEEDED, started_at__gt=min(row["started_at"] for row in failures))
        .exclude(smoke_test=SmokeTest.FAILED)
        .order_by("started_at", "pk")
        .values(*FIELDS)
    )
    for row in later:
        successes.setdefault(_place(row), []).append(row)
    times = []
    for row in failures:
        failed_at = row["finished_at"] or row["started_at"]
        fixed = next(
            (
                ok
                for ok in successes.get(_place(row), [])
                if ok["started_at"] > row["started_at"] and ok["pk"] != row["pk"]
            ),
            None,
        )
        if fixed is not None:
            times.append(max((fixed["finished_at"] or fixed["started_at"]) - failed_at, timedelta(0)))
    return times
