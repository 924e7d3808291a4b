"""Reads for the cluster allocation page: per namespace, requests vs usage vs share and cost, over a day range.

Costs come only from the rollups, scoped by the policy (a team-limited reader
sees their team's namespaces and neither idle nor anyone else's share).
Requests, usage and charged hours come from the samples and shares of the
namespaces the reader may see. Currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser
from django.db.models import DecimalField, ExpressionWrapper, F, Sum

from access import policy
from access.models import User
from costs.allocation.services import GIB, day_bounds
from costs.choices import Allocation, CostBasis
from costs.forecast import cost_column
from costs.models import AllocationSample, AllocationShare, CostRollup
from regions.models import Cluster

AnyUser = User | AnonymousUser
IDLE = ""
ZERO = Decimal(0)


@dataclass
class NamespaceRow:
    """One namespace's line on the page (or the idle line, or the cost not split for lack of samples)."""

    namespace: str
    label: str
    team: str = ""
    environment: str = ""
    cpu_request_hours: Decimal = ZERO
    cpu_usage_hours: Decimal | None = None
    memory_request_gib_hours: Decimal = ZERO
    memory_usage_gib_hours: Decimal | None = None
    gpu_hours: Decimal = ZERO
    charged_cpu_hours: Decimal = ZERO
    charged_memory_gib_hours: Decimal = ZERO
    charged_gpu_hours: Decimal = ZERO
    share: Decimal | None = None  # the mean daily weight over the days with shares
    cost: dict[str, Decimal] = field(default_factory=dict)
    unallocated: bool = False

    @property
    def share_percent(self) -> Decimal | None:
        """The share in percent, to one decimal place."""
        return None if self.share is None else (self.share * 100).quantize(Decimal("0.1"))


@dataclass
class AllocationReport:
    """The page's content: namespaces (by cost), idle and unsplit lines, and totals per currency."""

    cluster: Cluster
    start: date
    end: date  # exclusive
    basis: str
    rows: list[NamespaceRow]
    idle: NamespaceRow | None
    unsplit: NamespaceRow | None
    totals: dict[str, Decimal]
    days_with_shares: int

    @property
    def last_day(self) -> date:
        """The range's last day (``end`` is the day after it)."""
        return self.end - timedelta(days=1)

    @property
    def currencies(self) -> list[str]:
        return sorted(self.totals)

    @property
    def chart_data(self) -> dict[str, object]:
        """Cost per namespace (and idle) in the first currency, for ``static/portal/charts.js``."""
        currency = self.currencies[0] if self.currencies else ""
        lines = [*self.rows, *([self.idle] if self.idle else [])]
        return {
            "labels": [line.label for line in lines],
            "datasets": [
                {"label": f"Cost ({currency})", "data": [str(line.cost.get(currency, ZERO)) for line in lines]}
            ],
        }


def cluster_allocation(
    *, user: AnyUser, cluster: Cluster, start: date, end: date, basis: str = CostBasis.EFFECTIVE
) -> AllocationReport:
    """What the cluster's namespaces asked for, used, were charged and cost from ``start`` to ``end`` (exclusive)."""
    column = cost_column(basis)
    rollups = policy.restrict(
        CostRollup.objects.filter(cluster=cluster, day__gte=start, day__lt=end), user, policy.VIEW
    )
    costs: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for namespace, allocation, currency, amount in (
        rollups.values("namespace", "allocation", "currency")
        .annotate(amount=Sum(column))
        .values_list("namespace", "allocation", "currency", "amount")
        .order_by()
    ):
        kind = "idle" if allocation == Allocation.IDLE else ("unsplit" if namespace == IDLE else "namespace")
        bucket = costs[(kind, namespace)]
        bucket[currency] = bucket.get(currency, ZERO) + (amount or ZERO)

    shares = policy.restrict(
        AllocationShare.objects.filter(cluster=cluster, day__gte=start, day__lt=end), user, policy.VIEW
    )
    days_with_shares = (
        AllocationShare.objects.filter(cluster=cluster, day__gte=start, day__lt=end).values("day").distinct().count()
    )
    rows: dict[str, NamespaceRow] = {}
    idle: NamespaceRow | None = None
    for share in (
        shares.values("namespace", "team__name", "environment__name")
        .annotate(weight=Sum("weight"), cpu=Sum("cpu_hours"), memory=Sum("memory_gib_hours"), gpu=Sum("gpu_hours"))
        .order_by("namespace")
    ):
        name = share["namespace"]
        row = NamespaceRow(
            namespace=name,
            label=name or "Idle capacity",
            team=share["team__name"] or "",
            environment=share["environment__name"] or "",
            charged_cpu_hours=share["cpu"] or ZERO,
            charged_memory_gib_hours=share["memory"] or ZERO,
            charged_gpu_hours=share["gpu"] or ZERO,
            share=(share["weight"] / days_with_shares) if days_with_shares else None,
            unallocated=bool(name) and not (share["team__name"] or share["environment__name"]),
        )
        if name == IDLE:
            idle = row
        else:
            rows[name] = row  # a namespace whose owner changed in the range: the last owner names the row
    _add_requests_and_usage(cluster, start, end, rows)
    for (kind, namespace), amounts in costs.items():
        if kind == "namespace":
            rows.setdefault(namespace, NamespaceRow(namespace=namespace, label=namespace)).cost = amounts
        elif kind == "idle":
            idle = idle or NamespaceRow(namespace=IDLE, label="Idle capacity")
            idle.cost = amounts
    unsplit_cost = costs.get(("unsplit", IDLE))
    unsplit = None
    if unsplit_cost:
        unsplit = NamespaceRow(namespace=IDLE, label="Not split (no samples those days)", cost=unsplit_cost)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for amounts in costs.values():
        for currency, amount in amounts.items():
            totals[currency] += amount
    ordered = sorted(rows.values(), key=lambda row: (-sum(row.cost.values(), ZERO), row.namespace))
    by_currency = dict(sorted(totals.items()))
    return AllocationReport(cluster, start, end, basis, ordered, idle, unsplit, by_currency, days_with_shares)


def _add_requests_and_usage(cluster: Cluster, start: date, end: date, rows: dict[str, NamespaceRow]) -> None:
    """Requested and used hours of the namespaces on the page (usage stays None where no metrics were served)."""
    if not rows:
        return
    first, _ = day_bounds(start)
    last, _ = day_bounds(end)
    money = DecimalField(max_digits=30, decimal_places=8)
    sums = (
        AllocationSample.objects.filter(cluster=cluster, slot__gte=first, slot__lt=last, namespace__in=list(rows))
        .values("namespace")
        .annotate(
            cpu_request=Sum(ExpressionWrapper(F("cpu_request") * F("hours"), output_field=money)),
            cpu_usage=Sum(ExpressionWrapper(F("cpu_usage") * F("hours"), output_field=money)),
            memory_request=Sum(ExpressionWrapper(F("memory_request") * F("hours"), output_field=money)),
            memory_usage=Sum(ExpressionWrapper(F("memory_usage") * F("hours"), output_field=money)),
            gpu=Sum(ExpressionWrapper(F("gpu_request") * F("hours"), output_field=money)),
        )
        .order_by()
    )
    for found in sums:
        row = rows[found["namespace"]]
        row.cpu_request_hours = found["cpu_request"] or ZERO
        row.cpu_usage_hours = found["cpu_usage"]
        row.memory_request_gib_hours = (found["memory_request"] or ZERO) / GIB
        row.memory_usage_gib_hours = None if found["memory_usage"] is None else found["memory_usage"] / GIB
        row.gpu_hours = found["gpu"] or ZERO
