"""Savings recommendations: where money could be saved, how much a month, on what evidence; and what TTLs saved.

Each kind of recommendation is computed by one function below from the cost
rollups, the inventory, the price table and (for buckets) the cloud drivers:

- a lifetime (TTL) for a non-production environment that never expires or lives long:
  its daily cost times the days it would not run in the next month;
- spot capacity for non-production workloads on clusters with on-demand node pools:
  their namespaces' share of node cost, times the on-demand part of the pools, times the spot discount;
- over-requested namespaces: their cost times the part of their requests they do not use
  (only where the allocation sampler records requests and usage; otherwise the kind is simply absent);
- buckets without a lifecycle rule to cold storage: their expected size at the bucket price, times what
  such a rule saves;
- over-sized databases in non-production environments: the price difference to the next size down;
- savings realised by TTL teardowns this month: the environment's daily cost before it expired, times
  the days of this month it no longer ran (at most 30 days from the teardown).

:func:`refresh_recommendations` runs them in the Celery task (``costs.compute_savings``, on a
schedule) and writes :class:`costs.models.Recommendation` rows; the page only reads those rows.
Money is Decimal in the currency it was spent in; currencies are never added together. Every
assumption (spot discount, lifecycle fraction, usage threshold, suggested lifetime) is a setting
and is named in the evidence next to the figure it produced.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import AuditEvent, Team, Tier, User
from access.permissions import CHANGE, VIEW
from costs.choices import (
    HOURS_PER_MONTH,
    AddonSize,
    Allocation,
    PriceUnit,
    RecommendationAction,
    RecommendationKind,
    RecommendationStatus,
)
from costs.forecast import month_bounds
from costs.models import AllocationSample, CostRollup, PriceItem, Recommendation
from costs.prices import PriceBook
from costs.selectors import price_book
from deployments.models import Workload
from environments.choices import EnvironmentStatus
from environments.models import Environment
from environments.services import environment_set_expiry
from environments.workflows import EnvironmentPlan, ProvisionEnvironment
from portal.numbers import money
from providers.errors import NotFound, ProviderError
from regions.choices import CapacityType, ClusterKind, ResourceKind
from regions.drivers import cloud_driver_for
from regions.models import Cluster, Namespace, NodePool, Region
from workflows.selectors import latest_run

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
# A month as the clouds bill it: 730 hours.
DAYS_PER_MONTH = Decimal(HOURS_PER_MONTH) / 24
# The daily cost of an environment is the mean of its last complete days (up to this many).
TRAILING_DAYS = 7
# Namespace costs (spot, over-requested) are the mean of the days with cost in the last month.
WINDOW_DAYS = 30
# Realised savings count at most this many days after a teardown.
REALISED_DAYS = 30
# How long "Snooze" hides a recommendation when no other number of days is given.
SNOOZE_DAYS = 30
NON_PRODUCTION = (Tier.DEVELOPMENT, Tier.TEST, Tier.STAGING)
# Any constant: the advisory lock that serialises writers of the recommendations.
_REFRESH_LOCK = 0x736176696E6773  # "savings"
SMALLER_SIZE = {AddonSize.LARGE: AddonSize.MEDIUM, AddonSize.MEDIUM: AddonSize.SMALL}


@dataclass
class Found:
    """One recommendation (or realised saving) as computed, before it is written."""

    key: str
    kind: str
    title: str
    monthly_saving: Decimal
    currency: str
    evidence: list[str] = field(default_factory=list)
    team_id: int | None = None
    environment_id: int | None = None
    cluster_id: int | None = None
    region_id: int | None = None
    namespace: str = ""
    resource: str = ""
    tier: str = ""
    action: str = RecommendationAction.NONE
    action_hours: int | None = None
    realised: bool = False
    period_start: date | None = None


def percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f} %"


def _days(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))}"


# --------------------------------------------------------------------------------- daily costs


def environment_daily_costs(
    environments: Iterable[Environment], *, until: dict[int, date], days: int = TRAILING_DAYS
) -> dict[int, dict[str, tuple[Decimal, int]]]:
    """Per environment and currency: the mean daily effective cost over the ``days`` before ``until[id]``.

    The mean is over the days the environment existed in that span, so a
    two-day-old environment is not diluted by five days before it was made.
    Returns ``{environment id: {currency: (daily cost, days averaged)}}``; an
    environment with no cost in the span is absent.
    """
    by_id = {environment.pk: environment for environment in environments}
    if not by_id:
        return {}
    earliest = min(until.values()) - timedelta(days=days)
    rows = (
        CostRollup.objects.filter(environment_id__in=list(by_id), day__gte=earliest, day__lt=max(until.values()))
        .values("environment_id", "currency", "day")
        .annotate(total=Sum("effective_cost"))
        .values_list("environment_id", "currency", "day", "total")
    )
    totals: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for environment_id, currency, day, total in rows:
        end = until[environment_id]
        if end - timedelta(days=days) <= day < end:
            totals[environment_id][currency] += total
    result: dict[int, dict[str, tuple[Decimal, int]]] = {}
    for environment_id, by_currency in totals.items():
        environment = by_id[environment_id]
        end = until[environment_id]
        first = max(end - timedelta(days=days), timezone.localdate(environment.created_at))
        existed = max(1, min(days, (end - first).days))
        result[environment_id] = {currency: (total / existed, existed) for currency, total in by_currency.items()}
    return result


def _daily_spending(
    environment: Environment, measured: dict[str, tuple[Decimal, int]] | None
) -> dict[str, tuple[Decimal, str]]:
    """What the environment costs a day, per currency, with where the figure comes from: its recorded cost
    (``measured``: currency -> (daily mean, days averaged)) or, with none recorded, its request's estimate."""
    if measured:
        return {
            currency: (daily, f"It cost {money(daily)} {currency} a day over its last {days} complete day(s).")
            for currency, (daily, days) in measured.items()
        }
    daily = _estimated_daily(environment)
    return {
        environment.currency: (
            daily,
            f"No cost was recorded for it: its estimate of {money(environment.monthly_estimate)} "
            f"{environment.currency} a month is {money(daily)} a day.",
        )
    }


def _estimated_daily(environment: Environment) -> Decimal:
    """The daily cost the request's estimate implies (for an environment with no cost recorded yet)."""
    return environment.monthly_estimate / DAYS_PER_MONTH


def namespace_monthly_costs(
    cluster_ids: Iterable[int], *, today: date
) -> dict[tuple[int, str], dict[str, tuple[Decimal, int]]]:
    """Per (cluster, namespace) and currency: the namespace's share of node cost a month, and the days it rests on.

    The mean of the days with cost over the last :data:`WINDOW_DAYS` complete
    days, times a month (730 hours).
    """
    rows = (
        CostRollup.objects.filter(
            cluster_id__in=list(cluster_ids),
            allocation__in=[Allocation.NAMESPACE, Allocation.UNALLOCATED],
            day__gte=today - timedelta(days=WINDOW_DAYS),
            day__lt=today,
        )
        .exclude(namespace="")
        .values("cluster_id", "namespace", "currency")
        .annotate(total=Sum("effective_cost"), days=Count("day", distinct=True))
        .values_list("cluster_id", "namespace", "currency", "total", "days")
    )
    result: dict[tuple[int, str], dict[str, tuple[Decimal, int]]] = defaultdict(dict)
    for cluster_id, namespace, currency, total, days in rows:
        if total > 0 and days:
            result[(cluster_id, namespace)][currency] = (total / days * DAYS_PER_MONTH, days)
    return dict(result)


# --------------------------------------------------------------------------------- environments: TTL


def ttl_recommendations(*, now: datetime) -> Iterator[Found]:
    """Non-production environments that never expire, or expire later than the suggested lifetime would end them."""
    today = timezone.localdate(now)
    horizon = now + timedelta(hours=HOURS_PER_MONTH)
    candidates = list(
        Environment.objects.filter(status=EnvironmentStatus.READY, tier__in=NON_PRODUCTION)
        .select_related("template", "team", "cluster__region")
        .order_by("pk")
    )
    daily_costs = environment_daily_costs(candidates, until=dict.fromkeys((e.pk for e in candidates), today))
    activity = {
        row["environment_id"]: (row["workloads"], row["ready"] or 0)
        for row in Workload.objects.filter(environment__in=candidates, gone_at__isnull=True)
        .values("environment_id")
        .annotate(workloads=Count("id"), ready=Sum("replicas_ready"))
    }
    for environment in candidates:
        hours = settings.COST_SAVINGS_SUGGESTED_TTL_HOURS
        if environment.template.max_ttl_hours is not None:
            hours = min(hours, environment.template.max_ttl_hours)
        proposed_end = now + timedelta(hours=hours)
        current_end = min(environment.expires_at or horizon, horizon)
        days_saved = Decimal((current_end - proposed_end).total_seconds()) / 86400
        if days_saved < 1:
            continue
        lifetime = f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"
        if environment.expires_at is None:
            title = f"Give {environment.name} a lifetime of {lifetime}"
            when = "it never expires"
        else:
            title = f"Shorten the lifetime of {environment.name} to {lifetime}"
            when = f"it expires on {timezone.localtime(environment.expires_at):%d %b %Y %H:%M}"
        age = max(0, (now - environment.created_at).days)
        for currency, (daily, said) in sorted(_daily_spending(environment, daily_costs.get(environment.pk)).items()):
            saving = (daily * days_saved).quantize(CENT)
            if saving <= 0:
                continue
            yield Found(
                key=f"{RecommendationKind.ENVIRONMENT_TTL}:{environment.pk}:{currency}",
                kind=RecommendationKind.ENVIRONMENT_TTL,
                title=title,
                monthly_saving=saving,
                currency=currency,
                evidence=[
                    f"A {environment.get_tier_display().lower()} environment of {environment.team}, "
                    f"running for {age} day(s); {when}.",
                    _idleness(*activity.get(environment.pk, (0, 0))),
                    said,
                    f"A lifetime of {lifetime} ends it {_days(days_saved)} days sooner within the next month: "
                    f"{_days(days_saved)} x {money(daily)} = {money(saving)} {currency}.",
                ],
                **_scope_of(environment),
                action=RecommendationAction.SET_TTL,
                action_hours=hours,
            )


def _scope_of(environment: Environment) -> dict[str, Any]:
    """Where a recommendation about ``environment`` belongs: its team, cluster, region and tier."""
    return {
        "team_id": environment.team_id,
        "environment_id": environment.pk,
        "cluster_id": environment.cluster_id,
        "region_id": environment.cluster.region_id,
        "tier": environment.tier,
    }


def _idleness(workloads: int, ready: int) -> str:
    """What the last cluster sync saw running in an environment: idle ones are the first to give a lifetime."""
    if not workloads:
        return "No workload runs in it (as of the last cluster sync): it looks idle."
    if not ready:
        return f"None of its {workloads} workload(s) has a ready replica: it looks idle."
    return f"{workloads} workload(s) run in it with {ready} ready replica(s)."


# --------------------------------------------------------------------------------- spot


@dataclass(frozen=True)
class PoolMix:
    """How much of a cluster's node capacity is on-demand, in nodes."""

    on_demand: int
    total: int
    pools: tuple[str, ...]

    @property
    def fraction(self) -> Decimal:
        return Decimal(self.on_demand) / Decimal(self.total) if self.total else Decimal(0)


def pool_mix(cluster_ids: Iterable[int]) -> dict[int, PoolMix]:
    """Per cluster: its on-demand nodes out of all (desired counts), and the on-demand pools' names."""
    on_demand: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    names: dict[int, list[str]] = defaultdict(list)
    pools = NodePool.objects.filter(cluster_id__in=list(cluster_ids)).order_by("name")
    for pool in pools.values("cluster_id", "name", "capacity_type", "desired_nodes"):
        total[pool["cluster_id"]] += pool["desired_nodes"]
        if pool["capacity_type"] == CapacityType.ON_DEMAND:
            on_demand[pool["cluster_id"]] += pool["desired_nodes"]
            names[pool["cluster_id"]].append(pool["name"])
    return {cluster: PoolMix(on_demand[cluster], total[cluster], tuple(names[cluster])) for cluster in total}


def spot_recommendations(*, now: datetime) -> Iterator[Found]:
    """Namespaces running only non-production workloads on clusters whose node pools are (partly) on-demand."""
    today = timezone.localdate(now)
    clusters = {
        cluster.pk: cluster
        for cluster in Cluster.objects.filter(kind__in=[ClusterKind.EKS, ClusterKind.AKS]).select_related("region")
    }
    mixes = {pk: mix for pk, mix in pool_mix(clusters).items() if mix.on_demand}
    workloads: dict[tuple[int, str], list[Workload]] = defaultdict(list)
    production: set[tuple[int, str]] = set()
    for workload in Workload.objects.filter(cluster_id__in=list(mixes), gone_at__isnull=True).order_by("name"):
        where = (workload.cluster_id, workload.namespace)
        if workload.tier in NON_PRODUCTION:
            workloads[where].append(workload)
        else:  # production or unknown tier: the namespace is not safe to move to spot
            production.add(where)
    eligible = {where: found for where, found in workloads.items() if where not in production}
    if not eligible:
        return
    costs = namespace_monthly_costs({cluster for cluster, _ in eligible}, today=today)
    discount = Decimal(settings.COST_SAVINGS_SPOT_DISCOUNT)
    for (cluster_id, namespace), found in sorted(eligible.items()):
        cluster, mix = clusters[cluster_id], mixes[cluster_id]
        names = ", ".join(sorted({workload.name for workload in found}))
        tiers = sorted({workload.tier for workload in found})
        team_id = next((workload.team_id for workload in found if workload.team_id), None)
        for currency, (monthly, days) in sorted(costs.get((cluster_id, namespace), {}).items()):
            saving = (monthly * mix.fraction * discount).quantize(CENT)
            if saving <= 0:
                continue
            yield Found(
                key=f"{RecommendationKind.SPOT}:{cluster_id}:{namespace}:{currency}",
                kind=RecommendationKind.SPOT,
                title=f"Run {namespace} on {cluster.name} on spot nodes",
                monthly_saving=saving,
                currency=currency,
                evidence=[
                    f"Only non-production ({', '.join(tiers)}) workloads run in {namespace}: {names}.",
                    f"{mix.on_demand} of {cluster.name}'s {mix.total} nodes are on-demand "
                    f"(pools {', '.join(mix.pools)}).",
                    f"The namespace's share of node cost is {money(monthly)} {currency} a month "
                    f"(mean of {days} day(s) with cost in the last {WINDOW_DAYS}).",
                    f"Spot costs {percent(discount)} less (PORTAL_COST_SAVINGS_SPOT_DISCOUNT): "
                    f"{money(monthly)} x {mix.on_demand}/{mix.total} x {discount} = {money(saving)} {currency}.",
                ],
                team_id=team_id,
                cluster_id=cluster_id,
                region_id=cluster.region_id,
                namespace=namespace,
                tier=tiers[-1] if len(tiers) == 1 else "",
            )


# --------------------------------------------------------------------------------- over-requested namespaces


GIB = 1024**3


@dataclass(frozen=True)
class NamespaceUsage:
    """What a namespace requested and used over a span: core-hours and GiB-hours."""

    cluster_id: int
    namespace: str
    cpu_requested: Decimal
    cpu_used: Decimal
    memory_requested: Decimal
    memory_used: Decimal

    @property
    def utilisation(self) -> Decimal | None:
        """The larger of the used shares of CPU and memory requests; None when nothing was requested."""
        shares = [
            used / requested
            for requested, used in ((self.cpu_requested, self.cpu_used), (self.memory_requested, self.memory_used))
            if requested > 0
        ]
        return max(shares) if shares else None


def namespace_usage(*, start: date, end: date) -> list[NamespaceUsage]:
    """Requests and usage per namespace from ``start`` to ``end`` (exclusive), from the allocation sampler.

    Only slots with usage count (a cluster without metrics-server has none):
    requests of hours whose usage is unknown would read as unused.
    """
    hours = F("hours")
    weighted = {
        "cpu_requested": F("cpu_request") * hours,
        "cpu_used": F("cpu_usage") * hours,
        "memory_requested": F("memory_request") * hours / GIB,
        "memory_used": F("memory_usage") * hours / GIB,
    }
    rows = (
        AllocationSample.objects.filter(
            slot__date__gte=start, slot__date__lt=end, cpu_usage__isnull=False, memory_usage__isnull=False
        )
        .values("cluster_id", "namespace")
        .annotate(**{name: Sum(value, output_field=DecimalField()) for name, value in weighted.items()})
        .values_list("cluster_id", "namespace", *weighted)
    )
    return [
        NamespaceUsage(cluster_id, namespace, *(amount or Decimal(0) for amount in amounts))
        for cluster_id, namespace, *amounts in rows
    ]


def over_requested_recommendations(*, now: datetime, usage: list[NamespaceUsage] | None = None) -> Iterator[Found]:
    """Namespaces that use less than the threshold of what they request: their cost times the unused part."""
    today = timezone.localdate(now)
    if usage is None:
        usage = namespace_usage(start=today - timedelta(days=WINDOW_DAYS), end=today)
    threshold = Decimal(settings.COST_SAVINGS_USAGE_THRESHOLD)
    low = [item for item in usage if (share := item.utilisation) is not None and share < threshold]
    if not low:
        return
    costs = namespace_monthly_costs({item.cluster_id for item in low}, today=today)
    clusters = Cluster.objects.in_bulk({item.cluster_id for item in low})
    owners = {
        (cluster_id, name): team_id
        for cluster_id, name, team_id in Namespace.objects.filter(cluster_id__in=list(clusters)).values_list(
            "cluster_id", "name", "team_id"
        )
    }
    for item in sorted(low, key=lambda item: (item.cluster_id, item.namespace)):
        cluster = clusters.get(item.cluster_id)
        share = item.utilisation
        if cluster is None or share is None:
            continue
        for currency, (monthly, days) in sorted(costs.get((item.cluster_id, item.namespace), {}).items()):
            saving = (monthly * (1 - share)).quantize(CENT)
            if saving <= 0:
                continue
            yield Found(
                key=f"{RecommendationKind.OVER_REQUESTED}:{item.cluster_id}:{item.namespace}:{currency}",
                kind=RecommendationKind.OVER_REQUESTED,
                title=f"Lower the requests of {item.namespace} on {cluster.name}",
                monthly_saving=saving,
                currency=currency,
                evidence=[
                    f"Over the last {WINDOW_DAYS} days it used {item.cpu_used.normalize():f} of "
                    f"{item.cpu_requested.normalize():f} requested core-hours and {item.memory_used.normalize():f} "
                    f"of {item.memory_requested.normalize():f} requested GiB-hours: "
                    f"at most {percent(share.quantize(CENT))} "
                    f"(threshold {percent(threshold)}, PORTAL_COST_SAVINGS_USAGE_THRESHOLD).",
                    f"Its share of node cost is {money(monthly)} {currency} a month (mean of {days} day(s)).",
                    f"Requests matching usage free the unused part: {money(monthly)} x (1 - "
                    f"{share.quantize(CENT)}) = {money(saving)} {currency}; on a cloud cluster the saving comes "
                    "when the autoscaler removes the nodes freed.",
                ],
                team_id=owners.get((item.cluster_id, item.namespace)),
                cluster_id=item.cluster_id,
                region_id=cluster.region_id,
                namespace=item.namespace,
            )


# --------------------------------------------------------------------------------- buckets and databases


def _monthly_price(item: PriceItem) -> Decimal:
    """A price per month: hourly prices times 730 hours."""
    return item.price * HOURS_PER_MONTH if item.unit == PriceUnit.HOUR else item.price


class _Books:
    """Price books per provider and region, read once per computation."""

    def __init__(self, at: date) -> None:
        self.at = at
        self._books: dict[tuple[str, str], PriceBook] = {}

    def of(self, region: Region) -> PriceBook:
        key = (region.provider, region.code)
        if key not in self._books:
            self._books[key] = price_book(provider=region.provider, region=region.code, at=self.at)
        return self._books[key]


def bucket_name(environment: Environment) -> str:
    """The environment's bucket, as its provisioning run named it (environments/workflows.py): a plan keeps the
    installation's id it was made with (none, for environments planned before names carried it). Without a run,
    the name provisioning would give it today."""
    run = latest_run(environment, ProvisionEnvironment.kind)
    if run is not None and run.params:
        return EnvironmentPlan.from_params(run.params).bucket_name()
    plan = EnvironmentPlan(
        environment_id=environment.pk, name=environment.name, team="", tier="", cluster_id=0, namespaces=()
    )
    return plan.bucket_name()


def bucket_recommendations(*, now: datetime) -> Iterator[Found]:
    """Environment buckets the cloud reports without a lifecycle rule to cold storage (asks the drivers)."""
    books = _Books(timezone.localdate(now))
    fraction = Decimal(settings.COST_SAVINGS_LIFECYCLE_FRACTION)
    environments = (
        Environment.objects.filter(
            status__in=[EnvironmentStatus.READY, EnvironmentStatus.FAILED], template__bucket_size_gb__isnull=False
        )
        .select_related("template", "team", "cluster__region")
        .order_by("cluster__region_id", "pk")
    )
    by_region: dict[int, list[Environment]] = defaultdict(list)
    for environment in environments:
        by_region[environment.cluster.region_id].append(environment)
    for found in by_region.values():
        region = found[0].cluster.region
        try:
            cloud = cloud_driver_for(region)
        except ProviderError as error:
            log.warning("savings: no cloud driver for %s: %s", region.code, error)
            continue
        price = books.of(region).find(ResourceKind.BUCKET)
        if price is None:
            continue
        for environment in found:
            name = bucket_name(environment)
            try:
                info = cloud.describe_bucket(name)
            except NotFound:
                continue
            except ProviderError as error:
                log.warning("savings: could not describe bucket %s: %s", name, error)
                continue
            if info.cold_storage_after_days is not None:
                continue
            size = Decimal(environment.template.bucket_size_gb or 0)
            monthly = size * price.price
            saving = (monthly * fraction).quantize(CENT)
            if saving <= 0:
                continue
            yield Found(
                key=f"{RecommendationKind.BUCKET_LIFECYCLE}:{region.pk}:{name}",
                kind=RecommendationKind.BUCKET_LIFECYCLE,
                title=f"Add a lifecycle rule to bucket {name}",
                monthly_saving=saving,
                currency=price.currency,
                evidence=[
                    f"Bucket {name} of {environment.name} in {region.code} has no rule moving objects to cold storage.",
                    f"Its expected size is {size} GiB ({environment.template}) at {price.price_text} "
                    f"{price.currency} per GiB-month: {money(monthly)} {price.currency} a month.",
                    f"Moving older objects to cold storage saves about {percent(fraction)} of that "
                    f"(PORTAL_COST_SAVINGS_LIFECYCLE_FRACTION): {money(saving)} {price.currency}.",
                ],
                resource=name,
                **_scope_of(environment),
            )


def database_recommendations(*, now: datetime) -> Iterator[Found]:
    """Non-production environments with a medium or large database: the price difference to the next size down."""
    books = _Books(timezone.localdate(now))
    environments = (
        Environment.objects.filter(
            status__in=[EnvironmentStatus.READY, EnvironmentStatus.FAILED],
            tier__in=NON_PRODUCTION,
            template__postgresql_size__in=list(SMALLER_SIZE),
        )
        .select_related("template", "team", "cluster__region")
        .order_by("pk")
    )
    for environment in environments:
        size = AddonSize(environment.template.postgresql_size)
        smaller = SMALLER_SIZE[size]
        region = environment.cluster.region
        book = books.of(region)
        current, cheaper = book.find(ResourceKind.POSTGRESQL, size), book.find(ResourceKind.POSTGRESQL, smaller)
        if current is None or cheaper is None or current.currency != cheaper.currency:
            continue
        saving = (_monthly_price(current) - _monthly_price(cheaper)).quantize(CENT)
        if saving <= 0:
            continue
        yield Found(
            key=f"{RecommendationKind.DATABASE_SIZE}:{environment.pk}",
            kind=RecommendationKind.DATABASE_SIZE,
            title=f"Use a {smaller.label.lower()} database in {environment.name}",
            monthly_saving=saving,
            currency=current.currency,
            evidence=[
                f"A {environment.get_tier_display().lower()} environment with a {size.label.lower()} PostgreSQL "
                f"({environment.template}).",
                f"{current.label}: {money(_monthly_price(current))} {current.currency} a month; "
                f"{cheaper.label}: {money(_monthly_price(cheaper))} (price table, {region.code}).",
                f"The next size down saves the difference: {money(saving)} {current.currency} a month.",
            ],
            resource=f"postgresql:{size}",
            **_scope_of(environment),
        )


# --------------------------------------------------------------------------------- realised by TTL teardowns


def realised_savings(*, now: datetime) -> Iterator[Found]:
    """Environments torn down by expiry: their daily cost before, times the days of this month they no longer ran.

    Counted from the teardown's day (or the month's first) to the month's end,
    and never more than :data:`REALISED_DAYS` days after the teardown.
    """
    today = timezone.localdate(now)
    month_start, month_end = month_bounds(today)
    since = timezone.make_aware(datetime.combine(month_start - timedelta(days=REALISED_DAYS), datetime.min.time()))
    expiries = (
        AuditEvent.objects.filter(
            verb=audit.ENVIRONMENT_TEARDOWN,
            object_type=Environment._meta.label_lower,
            extra__reason="expired",
            occurred_at__gte=since,
        )
        .order_by("occurred_at")
        .values_list("object_id", "occurred_at")
    )
    torn_down: dict[int, date] = {}
    for object_id, occurred_at in expiries:
        if object_id.isdigit():
            torn_down.setdefault(int(object_id), timezone.localdate(occurred_at))
    environments = Environment.objects.filter(pk__in=list(torn_down)).select_related("team", "cluster__region")
    environments_list = list(environments)
    daily_costs = environment_daily_costs(environments_list, until=torn_down)
    for environment in sorted(environments_list, key=lambda environment: environment.pk):
        day = torn_down[environment.pk]
        counted_from = max(day, month_start)
        counted_to = min(month_end, day + timedelta(days=REALISED_DAYS))
        days = (counted_to - counted_from).days
        if days <= 0:
            continue
        for currency, (daily, said) in sorted(_daily_spending(environment, daily_costs.get(environment.pk)).items()):
            saving = (daily * days).quantize(CENT)
            if saving <= 0:
                continue
            yield Found(
                key=f"{RecommendationKind.TTL_REALISED}:{environment.pk}:{month_start:%Y-%m}:{currency}",
                kind=RecommendationKind.TTL_REALISED,
                title=f"{environment.name} expired on {day:%d %b %Y} and was torn down",
                monthly_saving=saving,
                currency=currency,
                evidence=[
                    said,
                    f"It does not run on {days} day(s) of {month_start:%B %Y} from {counted_from:%d %b}: "
                    f"{days} x {money(daily)} = {money(saving)} {currency}.",
                ],
                **_scope_of(environment),
                realised=True,
                period_start=month_start,
            )


# --------------------------------------------------------------------------------- writing and reading


COMPUTATIONS = (
    ttl_recommendations,
    spot_recommendations,
    over_requested_recommendations,
    bucket_recommendations,
    database_recommendations,
    realised_savings,
)


@dataclass(frozen=True)
class Refresh:
    """What one computation found, by kind, and how many rows it retired."""

    found: dict[str, int]
    retired: int


def compute_recommendations(*, now: datetime) -> list[Found]:
    """Every recommendation and realised saving as of ``now`` (asks the cloud drivers about buckets)."""
    return [found for compute in COMPUTATIONS for found in compute(now=now)]


def refresh_recommendations(*, now: datetime | None = None) -> Refresh:
    """Compute the recommendations and write them: new ones open, known ones updated (their status kept).

    Rows not found again are kept but no longer current. Drivers are asked
    before the transaction opens, so a slow cloud holds no lock.
    """
    now = now or timezone.now()
    found = compute_recommendations(now=now)
    counts: dict[str, int] = defaultdict(int)
    with transaction.atomic():
        with connection.cursor() as cursor:  # overlapping runs write one after the other
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REFRESH_LOCK])
        for item in found:
            counts[item.kind] += 1
            Recommendation.objects.update_or_create(
                key=item.key,
                defaults={
                    "kind": item.kind,
                    "realised": item.realised,
                    "title": item.title[:300],
                    "evidence": item.evidence,
                    "monthly_saving": item.monthly_saving,
                    "currency": item.currency,
                    "team_id": item.team_id,
                    "environment_id": item.environment_id,
                    "cluster_id": item.cluster_id,
                    "region_id": item.region_id,
                    "namespace": item.namespace,
                    "resource": item.resource,
                    "tier": item.tier,
                    "action": item.action,
                    "action_hours": item.action_hours,
                    "period_start": item.period_start,
                    "current": True,
                    "computed_at": now,
                },
            )
        retired = Recommendation.objects.filter(current=True).exclude(key__in=[item.key for item in found])
        count = retired.update(current=False)
    return Refresh(found=dict(counts), retired=count)


def shown(*, now: datetime | None = None) -> Q:
    """Open recommendations, and snoozed ones whose snooze is over."""
    now = now or timezone.now()
    return Q(status=RecommendationStatus.OPEN) | Q(status=RecommendationStatus.SNOOZED, snoozed_until__lte=now)


def recommendation_list(*, user: Any, now: datetime | None = None) -> QuerySet[Recommendation]:
    """The current recommendations ``user`` may see (their team's, or all for an unlimited cost reader)."""
    rows = Recommendation.objects.filter(current=True, realised=False).filter(shown(now=now))
    return policy.restrict(rows, user, VIEW).select_related("team", "environment__cluster__region", "cluster", "region")


def recommendation_search(
    rows: QuerySet[Recommendation], *, text: str = "", kind: str = "", team: Any = None
) -> QuerySet[Recommendation]:
    """The savings page's filters (and the API's): words in the title or namespace, a kind, a team; largest first."""
    if text:
        rows = rows.filter(Q(title__icontains=text) | Q(namespace__icontains=text))
    if kind:
        rows = rows.filter(kind=kind)
    if team is not None:
        rows = rows.filter(team=team)
    return rows.order_by("-monthly_saving", "pk")


def recommendation_filter_teams(*, user: Any) -> QuerySet[Team]:
    """The teams the savings filters offer: those of the current recommendations ``user`` may see."""
    return Team.objects.filter(
        pk__in=policy.restrict(Recommendation.objects.filter(current=True), user, VIEW).values("team_id")
    ).order_by("name")


def recommendation_visible(*, user: Any, recommendation_id: int) -> Recommendation:
    """The recommendation if ``user`` may see it; a 404 otherwise (missing and out of scope alike)."""
    found = (
        policy.restrict(Recommendation.objects.select_related("environment"), user, VIEW)
        .filter(pk=recommendation_id)
        .first()
    )
    if found is None:
        raise Http404("No recommendation matches the given query.")
    return found


def recommendation_ttl_environment(*, user: Any, recommendation: Recommendation) -> Environment:
    """The environment whose lifetime the recommendation sets, once ``user`` may change it.

    A recommendation of another kind is refused in words (ValidationError); an environment ``user`` may not
    change is a PermissionDenied (its service checks again inside its transaction).
    """
    if recommendation.action != RecommendationAction.SET_TTL or recommendation.environment_id is None:
        raise ValidationError("This recommendation has no lifetime to set.")
    environment = Environment.objects.select_related("cluster__region").get(pk=recommendation.environment_id)
    policy.require(user, CHANGE, environment)
    return environment


def realised_list(*, user: Any, month_start: date) -> QuerySet[Recommendation]:
    """The savings TTL teardowns realised in the month starting ``month_start`` that ``user`` may see."""
    rows = Recommendation.objects.filter(realised=True, period_start=month_start, current=True)
    return policy.restrict(rows, user, VIEW).select_related("team", "environment")


def totals_by_kind(rows: Iterable[Recommendation]) -> list[tuple[str, str, Decimal, int]]:
    """(kind label, currency, total monthly saving, count), the largest first; currencies are never added together."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        sums[(row.kind, row.currency)] += row.monthly_saving
        counts[(row.kind, row.currency)] += 1
    ordered = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    return [
        (RecommendationKind(kind).label, currency, total, counts[(kind, currency)])
        for (kind, currency), total in ordered
    ]


def _locked(actor: User, recommendation_id: int, action: str) -> Recommendation:
    return policy.get_for_update(Recommendation.objects.select_related("team"), actor, action, pk=recommendation_id)


@transaction.atomic
def recommendation_dismiss(*, actor: User, recommendation_id: int) -> Recommendation:
    """Hide a recommendation for good (it stays dismissed when recomputed); asking twice records one event."""
    recommendation = _locked(actor, recommendation_id, CHANGE)
    if recommendation.status == RecommendationStatus.DISMISSED:
        return recommendation
    before = recommendation.status
    recommendation.status = RecommendationStatus.DISMISSED
    recommendation.snoozed_until = None
    recommendation.save(update_fields=["status", "snoozed_until"])
    audit.record(
        audit.RECOMMENDATION_DISMISSED,
        recommendation,
        actor=actor,
        before={"status": before},
        after={"status": recommendation.status},
        team=recommendation.team,
        saving=f"{recommendation.monthly_saving} {recommendation.currency}",
    )
    return recommendation


@transaction.atomic
def recommendation_snooze(*, actor: User, recommendation_id: int, days: int) -> Recommendation:
    """Hide a recommendation for ``days``; it shows again after. A second request while snoozed changes nothing."""
    if not 1 <= days <= 365:
        raise ValidationError({"days": "Snooze for 1 to 365 days."})
    recommendation = _locked(actor, recommendation_id, CHANGE)
    now = timezone.now()
    if recommendation.status == RecommendationStatus.DISMISSED:
        raise ValidationError("This recommendation is dismissed.")
    if (
        recommendation.status == RecommendationStatus.SNOOZED
        and recommendation.snoozed_until is not None
        and recommendation.snoozed_until > now
    ):
        return recommendation
    before = {"status": recommendation.status, "snoozed_until": recommendation.snoozed_until}
    recommendation.status = RecommendationStatus.SNOOZED
    recommendation.snoozed_until = now + timedelta(days=days)
    recommendation.save(update_fields=["status", "snoozed_until"])
    audit.record(
        audit.RECOMMENDATION_SNOOZED,
        recommendation,
        actor=actor,
        before=before,
        after={"status": recommendation.status, "snoozed_until": recommendation.snoozed_until},
        team=recommendation.team,
        days=days,
    )
    return recommendation


@transaction.atomic
def recommendation_set_ttl(*, actor: User, recommendation_id: int) -> Recommendation:
    """Act on a lifetime recommendation: set the environment's lifetime through its service (checked and audited there).

    The recommendation is locked first, so a double submit waits and then finds it acted on.
    """
    policy.forget(actor)
    recommendation = (
        policy.restrict(Recommendation.objects.all(), actor, VIEW)
        .select_for_update(of=("self",))
        .filter(pk=recommendation_id)
    ).first()
    if recommendation is None:
        raise Http404("No recommendation matches the given query.")
    if recommendation.status == RecommendationStatus.ACTED:
        return recommendation
    if recommendation.action != RecommendationAction.SET_TTL or recommendation.environment_id is None:
        raise ValidationError("This recommendation has no lifetime to set.")
    if recommendation.action_hours is None:
        raise ValidationError("This recommendation names no lifetime.")
    environment_set_expiry(actor=actor, environment_id=recommendation.environment_id, hours=recommendation.action_hours)
    Recommendation.objects.filter(
        kind=RecommendationKind.ENVIRONMENT_TTL, environment_id=recommendation.environment_id
    ).update(status=RecommendationStatus.ACTED)
    recommendation.refresh_from_db()
    return recommendation


# ---------------------------------------------------------------- commitment utilisation and coverage


@dataclass(frozen=True)
class CommitmentUse:
    """One commitment discount (FOCUS CommitmentDiscountId) over a range of days, in one currency.

    FOCUS marks each usage row a commitment applied to ``Used`` and the hours
    it went to waste ``Unused`` (CommitmentDiscountStatus; see the spec's
    appendix on commitment discounts and its "commit usage and under usage"
    feature), all at their amortised (effective) cost: what was bought in the
    range is ``used + unused``, and utilisation ``used ÷ (used + unused)``.
    Coverage is the share of the covered resources' usage the commitment paid
    for: ``used ÷ (used + what the same resources ran on demand)``; it is
    unknown when the commitment covered no resource in the range.
    """

    commitment_id: str
    provider: str
    billing_account_id: str
    currency: str
    used: Decimal
    unused: Decimal
    on_demand: Decimal

    @property
    def purchased(self) -> Decimal:
        return self.used + self.unused

    @property
    def utilisation(self) -> Decimal | None:
        return self.used / self.purchased if self.purchased else None

    @property
    def coverage(self) -> Decimal | None:
        eligible = self.used + self.on_demand
        return self.used / eligible if eligible and self.used else None


COMMITMENTS_SQL = """
WITH committed AS (
    SELECT commitment_discount_id, currency, MIN(provider) AS provider, MIN(billing_account_id) AS account,
           COALESCE(SUM(effective_cost) FILTER (WHERE commitment_discount_status = 'used'), 0) AS used,
           COALESCE(SUM(effective_cost) FILTER (WHERE commitment_discount_status = 'unused'), 0) AS unused
    FROM costs_costlineitem
    WHERE charge_date >= %(start)s AND charge_date < %(end)s AND commitment_discount_id <> ''
      AND commitment_discount_status IN ('used', 'unused')
    GROUP BY commitment_discount_id, currency
),
covered AS (
    SELECT DISTINCT commitment_discount_id, currency, resource_id
    FROM costs_costlineitem
    WHERE charge_date >= %(start)s AND charge_date < %(end)s AND commitment_discount_id <> ''
      AND commitment_discount_status = 'used' AND resource_id <> ''
),
on_demand AS (
    SELECT c.commitment_discount_id, c.currency, SUM(li.effective_cost) AS amount
    FROM covered c
    JOIN costs_costlineitem li ON li.resource_id = c.resource_id AND li.currency = c.currency
    WHERE li.charge_date >= %(start)s AND li.charge_date < %(end)s AND li.commitment_discount_id = ''
      AND li.charge_category = 'usage'
    GROUP BY c.commitment_discount_id, c.currency
)
SELECT m.commitment_discount_id, m.provider, m.account, m.currency, m.used, m.unused, COALESCE(o.amount, 0)
FROM committed m
LEFT JOIN on_demand o ON o.commitment_discount_id = m.commitment_discount_id AND o.currency = m.currency
ORDER BY m.used + m.unused DESC, m.commitment_discount_id, m.currency
LIMIT %(limit)s
"""

# The commitments a page lists at most (the biggest first); an organisation holds tens, not thousands.
COMMITMENTS_SHOWN = 200


def commitment_use(*, start: date, end: date) -> list[CommitmentUse]:
    """Each commitment's utilisation and coverage over the days ``start`` to ``end`` (exclusive), in one query.

    Summed in PostgreSQL over the line items of the range only (the days are
    indexed, and so are the rows of commitments), never row by row here.
    """
    with connection.cursor() as cursor:
        cursor.execute(COMMITMENTS_SQL, {"start": start, "end": end, "limit": COMMITMENTS_SHOWN})
        return [CommitmentUse(*row) for row in cursor.fetchall()]
