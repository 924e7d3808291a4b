"""Kubernetes cost allocation: split a shared cluster's cost over its namespaces, and price on-prem k3s clusters.

Three steps, each idempotent:

1. :func:`cluster_sample` reads, through the cluster's driver, every
   namespace's CPU, memory and GPU *requests* (pod specs) and *usage*
   (metrics.k8s.io) and the ready nodes' allocatable capacity, and stores them
   as the samples of one slot (an hour by default). Sampling a slot again
   replaces its rows, so a sampler that runs twice in an hour counts it once.
2. :func:`allocate_day` turns a day's samples into :class:`AllocationShare`
   rows. A namespace is charged, per resource, ``max(request, usage)`` hours
   (what it reserved, or more if it used more); CPU, memory and GPU hours are
   combined by their prices in the price table, so a GPU-hour weighs what it
   costs. Its weight is that value over the value of the cluster's capacity
   (never less than what was used); what nobody used is the idle row
   (namespace ``""``). With ``share_idle`` on the cluster's source, idle is
   shared out in proportion instead. Weights are rounded down to the column's
   ten places and the idle row takes the rest, so a day's weights add up to
   exactly 1. Each namespace is owned by the first namespace-label rule that
   matches its labels, else the portal's own labels (environment id, team),
   else the inventory's :class:`regions.models.Namespace` team; a namespace no
   one owns stays in the cluster's cost as unallocated, never dropped.
3. The rollups of the day are rebuilt. EKS and AKS clusters' node cost is on
   the bill (line items tagged with the cluster); the shares only split it,
   adding nothing. A k3s cluster has no bill: its daily cost is the capacity
   it had times the on-prem rate card (price rows of provider ``on_prem``:
   per vCPU-hour, GiB-hour and GPU-hour), loaded as line items of the
   cluster's ``kubernetes`` cost source, tagged ``portal:cluster=<name>``, so
   the same shares split it.

The day is the UTC day, as the FOCUS line items' charge dates are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from access.models import Team
from costs import selectors
from costs.choices import ChargeCategory, PricingCategory, RuleKind, SourceKind
from costs.focus import FocusRow
from costs.models import AllocationSample, AllocationShare, AttributionRule, CapacitySample, CostSource
from costs.prices import PriceKey, PriceMissing
from costs.store import Owner, load_period, month_start, rebuild_rollups
from deployments.models import Service
from environments.models import Environment
from environments.workflows import LABEL_PREFIX
from providers.cluster import ClusterDriver
from regions.choices import ClusterKind, Provider, ResourceKind
from regions.models import Cluster, Namespace

GIB = Decimal(2**30)
WEIGHT_PLACES = Decimal("1E-10")  # AllocationShare.weight's decimal places
COST_PLACES = Decimal("1E-10")  # a FOCUS cost column's decimal places
HOURS_PLACES = Decimal("1E-4")
ENVIRONMENT_LABEL = f"{LABEL_PREFIX}/environment-id"
TEAM_LABEL = f"{LABEL_PREFIX}/team"
CLUSTER_TAG = "portal:cluster"


# ---------------------------------------------------------------- sampling


def sample_seconds() -> int:
    """How long one sample slot is (``PORTAL_COST_ALLOCATION_SAMPLE_SECONDS``, an hour by default)."""
    return int(settings.COST_ALLOCATION_SAMPLE_SECONDS)


def slot_of(at: datetime, seconds: int | None = None) -> datetime:
    """The start of the sample slot ``at`` falls in (slots are aligned on the Unix epoch, in UTC)."""
    length = seconds or sample_seconds()
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % length, tz=UTC)


@dataclass(frozen=True)
class Sampled:
    """What one sample recorded: the slot, how many namespaces and ready nodes it saw."""

    slot: datetime
    namespaces: int
    nodes: int


def cluster_sample(*, cluster: Cluster, slot: datetime, driver: ClusterDriver, seconds: int | None = None) -> Sampled:
    """Read requests, usage and capacity through ``driver`` and store them as the samples of ``slot``.

    The slot's earlier samples (a second run in the same slot, a retried
    task) are replaced, never added to.
    """
    length = seconds or sample_seconds()
    slot = slot_of(slot, length)
    hours = (Decimal(length) / 3600).quantize(HOURS_PLACES)
    usage = driver.namespace_usage()
    labels = {namespace.name: dict(namespace.labels) for namespace in driver.list_namespaces()}
    nodes = [node for node in driver.list_nodes() if node.ready]
    with transaction.atomic():
        # One sampler per cluster at a time: a second run of the slot waits, then replaces.
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
        AllocationSample.objects.filter(cluster=cluster, slot=slot).delete()
        AllocationSample.objects.bulk_create(
            AllocationSample(
                cluster=cluster,
                slot=slot,
                hours=hours,
                namespace=item.namespace,
                labels=labels.get(item.namespace, {}),
                cpu_request=item.cpu_request,
                cpu_usage=item.cpu_usage,
                memory_request=item.memory_request,
                memory_usage=item.memory_usage,
                gpu_request=item.gpu_request,
            )
            for item in usage
        )
        CapacitySample.objects.update_or_create(
            cluster=cluster,
            slot=slot,
            defaults={
                "hours": hours,
                "nodes": len(nodes),
                "cpu": sum((node.cpu_allocatable for node in nodes), Decimal(0)),
                "memory": sum(node.memory_allocatable for node in nodes),
                "gpu": sum(node.gpu_allocatable for node in nodes),
            },
        )
    return Sampled(slot, len(usage), len(nodes))


# ---------------------------------------------------------------- shares


@dataclass
class Consumption:
    """Resource-hours: cores times hours, GiB times hours, GPUs times hours."""

    cpu_hours: Decimal = Decimal(0)
    memory_gib_hours: Decimal = Decimal(0)
    gpu_hours: Decimal = Decimal(0)

    def add(self, hours: Decimal, cpu: Decimal, memory_bytes: int | Decimal, gpu: int | Decimal) -> None:
        self.cpu_hours += cpu * hours
        self.memory_gib_hours += Decimal(memory_bytes) / GIB * hours
        self.gpu_hours += Decimal(gpu) * hours

    def value(self, rates: Rates) -> Decimal:
        """What these hours cost at ``rates``."""
        return self.cpu_hours * rates.cpu + self.memory_gib_hours * rates.memory + self.gpu_hours * rates.gpu

    def minus(self, other: Consumption) -> Consumption:
        """What is left of these hours after ``other`` (never below zero)."""
        return Consumption(
            max(self.cpu_hours - other.cpu_hours, Decimal(0)),
            max(self.memory_gib_hours - other.memory_gib_hours, Decimal(0)),
            max(self.gpu_hours - other.gpu_hours, Decimal(0)),
        )


@dataclass(frozen=True)
class Rates:
    """Prices per vCPU-hour, GiB-hour and GPU-hour, in one currency (a missing price, unneeded, is zero)."""

    cpu: Decimal
    memory: Decimal
    gpu: Decimal
    currency: str


def rates_for(*, provider: str, region_code: str, day: date, needed: Consumption) -> Rates:
    """The price table's CPU, memory and GPU prices for ``provider`` and region on ``day``.

    Only the kinds ``needed`` has hours of must be priced; a missing one
    raises :class:`~costs.prices.PriceMissing` naming it. Prices in two
    currencies cannot be combined and raise ``ValueError``.
    """
    book = selectors.price_book(provider=provider, region=region_code, at=day)
    found: dict[str, Decimal] = {}
    currencies: set[str] = set()
    missing: list[PriceKey] = []
    for kind, hours in (
        (ResourceKind.CPU, needed.cpu_hours),
        (ResourceKind.MEMORY, needed.memory_gib_hours),
        (ResourceKind.GPU, needed.gpu_hours),
    ):
        row = book.find(kind)
        if row is None:
            if hours:
                missing.append(book.key(kind))
            continue
        found[kind] = row.price
        currencies.add(row.currency)
    if missing:
        raise PriceMissing(missing, day)
    if len(currencies) > 1:
        raise ValueError(
            f"The CPU, memory and GPU prices of {provider} {region_code or '(any region)'} are in "
            f"{', '.join(sorted(currencies))}; allocation needs them in one currency."
        )
    zero = Decimal(0)
    return Rates(
        found.get(ResourceKind.CPU, zero),
        found.get(ResourceKind.MEMORY, zero),
        found.get(ResourceKind.GPU, zero),
        currencies.pop() if currencies else "USD",
    )


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC day as [start, end) datetimes."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass
class DayUse:
    """One cluster-day's samples summed: what each namespace was charged for, its labels, and the capacity."""

    namespaces: dict[str, Consumption] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    capacity: Consumption = field(default_factory=Consumption)
    slots: int = 0


def day_use(cluster: Cluster, day: date) -> DayUse:
    """Sum the day's samples: per namespace ``max(request, usage)`` of each resource, times the slot's hours."""
    start, end = day_bounds(day)
    use = DayUse()
    samples = AllocationSample.objects.filter(cluster=cluster, slot__gte=start, slot__lt=end).order_by("slot")
    for sample in samples:
        consumption = use.namespaces.setdefault(sample.namespace, Consumption())
        consumption.add(
            sample.hours,
            max(sample.cpu_request, sample.cpu_usage or Decimal(0)),
            max(sample.memory_request, sample.memory_usage or 0),
            sample.gpu_request,
        )
        use.labels[sample.namespace] = dict(sample.labels)  # the latest slot's labels win
    for capacity in CapacitySample.objects.filter(cluster=cluster, slot__gte=start, slot__lt=end):
        use.capacity.add(capacity.hours, capacity.cpu, capacity.memory, capacity.gpu)
        use.slots += 1
    return use


def weights(
    values: dict[str, Decimal], capacity_value: Decimal, *, share_idle: bool
) -> tuple[dict[str, Decimal], Decimal]:
    """Each namespace's weight and the idle weight, adding up to exactly 1.

    Weights are ``value / denominator`` rounded down to ten places; the
    denominator is the capacity's value (or what was used, if more: an
    over-committed cluster has no idle), or, when idle is shared, what was
    used. The rounding remainder goes to idle, or, when idle is shared, to
    the namespace with the largest value. Nothing used at all: all idle.
    """
    used = sum(values.values(), Decimal(0))
    denominator = used if share_idle else max(capacity_value, used)
    if denominator <= 0:
        return dict.fromkeys(values, Decimal(0)), Decimal(1)
    result = {
        name: (value / denominator).quantize(WEIGHT_PLACES, rounding=ROUND_DOWN) for name, value in values.items()
    }
    remainder = Decimal(1) - sum(result.values(), Decimal(0))
    if share_idle:
        largest = max(values, key=lambda name: (values[name], name))
        result[largest] += remainder
        remainder = Decimal(0)
    return result, remainder


class NamespaceOwners:
    """Who a namespace's share belongs to: namespace-label rules, the portal's labels, then the inventory."""

    def __init__(self, cluster: Cluster) -> None:
        self.rules = list(AttributionRule.objects.filter(kind=RuleKind.NAMESPACE_LABEL).order_by("priority", "id"))
        self.environment_team = dict(Environment.objects.values_list("id", "team_id"))
        self.team_by_slug = dict(Team.objects.values_list("slug", "id"))
        self.service_team = dict(Service.objects.values_list("id", "team_id"))
        self.namespace_team = dict(
            Namespace.objects.filter(cluster=cluster, team__isnull=False).values_list("name", "team_id")
        )

    def owner(self, namespace: str, labels: dict[str, str]) -> Owner:
        team = environment = service = None
        for rule in self.rules:
            if labels.get(rule.key) == rule.value:
                team, environment, service = rule.team_id, rule.environment_id, rule.service_id
                break
        else:
            value = labels.get(ENVIRONMENT_LABEL, "")
            environment = int(value) if value.isdigit() and int(value) in self.environment_team else None
            team = self.team_by_slug.get(labels.get(TEAM_LABEL, ""))
            if not (team or environment):
                team = self.namespace_team.get(namespace)
        if team is None and environment is not None:
            team = self.environment_team.get(environment)
        if team is None and service is not None:
            team = self.service_team.get(service)
        return Owner(team, environment, service)


def source_of(cluster: Cluster) -> CostSource | None:
    """The cluster's ``kubernetes`` cost source (it turns allocation on and holds ``share_idle``), if any."""
    return CostSource.objects.filter(kind=SourceKind.KUBERNETES, cluster=cluster).order_by("pk").first()


def price_provider(cluster: Cluster) -> tuple[str, str]:
    """Whose prices weigh the cluster's resources: the on-prem rate card for k3s, else its cloud's list prices."""
    if cluster.kind == ClusterKind.K3S:
        return Provider.ON_PREM, cluster.region.code
    return cluster.region.provider, cluster.region.code


def allocate_day(*, cluster: Cluster, day: date) -> list[AllocationShare]:
    """Replace the cluster's shares of ``day`` from its samples, then bring the day's cost up to date.

    A day without samples gets no shares (its cost stays the cluster's,
    unsplit). For k3s the month's cost from the rate card is loaded again.
    """
    use = day_use(cluster, day)
    source = source_of(cluster)
    share_idle = bool(source and source.share_idle)
    provider, region_code = price_provider(cluster)
    shares: list[AllocationShare] = []
    if use.slots or use.namespaces:
        needed = Consumption(
            use.capacity.cpu_hours + sum((c.cpu_hours for c in use.namespaces.values()), Decimal(0)),
            use.capacity.memory_gib_hours + sum((c.memory_gib_hours for c in use.namespaces.values()), Decimal(0)),
            use.capacity.gpu_hours + sum((c.gpu_hours for c in use.namespaces.values()), Decimal(0)),
        )
        rates = rates_for(provider=provider, region_code=region_code, day=day, needed=needed)
        values = {name: consumption.value(rates) for name, consumption in use.namespaces.items()}
        weight_of, idle = weights(values, use.capacity.value(rates), share_idle=share_idle)
        owners = NamespaceOwners(cluster)
        used = Consumption()
        for name in sorted(use.namespaces):
            consumption = use.namespaces[name]
            owner = owners.owner(name, use.labels.get(name, {}))
            used.cpu_hours += consumption.cpu_hours
            used.memory_gib_hours += consumption.memory_gib_hours
            used.gpu_hours += consumption.gpu_hours
            shares.append(
                AllocationShare(
                    cluster=cluster,
                    day=day,
                    namespace=name,
                    weight=weight_of[name],
                    team_id=owner.team,
                    environment_id=owner.environment,
                    service_id=owner.service,
                    cpu_hours=consumption.cpu_hours.quantize(HOURS_PLACES),
                    memory_gib_hours=consumption.memory_gib_hours.quantize(HOURS_PLACES),
                    gpu_hours=consumption.gpu_hours.quantize(HOURS_PLACES),
                )
            )
        spare = use.capacity.minus(used)
        shares.append(
            AllocationShare(
                cluster=cluster,
                day=day,
                namespace="",
                weight=idle,
                cpu_hours=spare.cpu_hours.quantize(HOURS_PLACES),
                memory_gib_hours=spare.memory_gib_hours.quantize(HOURS_PLACES),
                gpu_hours=spare.gpu_hours.quantize(HOURS_PLACES),
            )
        )
    with transaction.atomic():  # rebuild_rollups takes turns with every other rebuild (costs/store.py)
        AllocationShare.objects.filter(cluster=cluster, day=day).delete()
        AllocationShare.objects.bulk_create(shares)
        if cluster.kind == ClusterKind.K3S:
            k3s_load_month(cluster=cluster, month=month_start(day))
        else:
            rebuild_rollups(day, day + timedelta(days=1))
    return shares


# ---------------------------------------------------------------- k3s: cost from the rate card


def k3s_source(cluster: Cluster) -> CostSource:
    """The k3s cluster's ``kubernetes`` source, made on first use (its loads hold the rate-card cost)."""
    found = source_of(cluster)
    if found is not None:
        return found
    name = f"k3s-{cluster.region.code}-{cluster.name}"[:63].rstrip("-")
    source, _ = CostSource.objects.get_or_create(
        name=name, defaults={"kind": SourceKind.KUBERNETES, "cluster": cluster}
    )
    return source


RESOURCE_LINES = (
    (ResourceKind.CPU, "cpu_hours", "vCPU-hours"),
    (ResourceKind.MEMORY, "memory_gib_hours", "GiB-hours"),
    (ResourceKind.GPU, "gpu_hours", "GPU-hours"),
)


def k3s_rows(cluster: Cluster, days: Iterable[tuple[date, Consumption]]) -> list[FocusRow]:
    """A k3s cluster's daily cost as FOCUS rows: its capacity's hours times the on-prem rate card, per resource."""
    rows: list[FocusRow] = []
    for day, capacity in days:
        if not (capacity.cpu_hours or capacity.memory_gib_hours or capacity.gpu_hours):
            continue
        rates = rates_for(provider=Provider.ON_PREM, region_code=cluster.region.code, day=day, needed=capacity)
        for kind, attribute, unit in RESOURCE_LINES:
            hours: Decimal = getattr(capacity, attribute)
            if not hours:
                continue
            price: Decimal = getattr(rates, str(kind))
            cost = (hours * price).quantize(COST_PLACES)
            rows.append(
                FocusRow(
                    charge_date=day,
                    billing_period_start=month_start(day),
                    charge_category=ChargeCategory.USAGE,
                    billed_cost=cost,
                    effective_cost=cost,
                    list_cost=cost,
                    currency=rates.currency,
                    provider=Provider.ON_PREM,
                    service_name=f"k3s node capacity ({ResourceKind(kind).label})",
                    service_category="Compute",
                    region_code=cluster.region.code,
                    billing_account_id=f"on-prem:{cluster.region.code}:{cluster.name}",
                    resource_id=f"{hours.quantize(HOURS_PLACES)} {unit} at {price} {rates.currency}",
                    pricing_category=PricingCategory.STANDARD,
                    tags={CLUSTER_TAG: cluster.name},
                )
            )
    return rows


def k3s_load_month(*, cluster: Cluster, month: date) -> None:
    """Load the k3s cluster's cost of ``month`` (every day with capacity samples) from the rate card."""
    start = month_start(month)
    end = month_start(start + timedelta(days=32))
    by_day: dict[date, Consumption] = defaultdict(Consumption)
    capacity = CapacitySample.objects.filter(
        cluster=cluster, slot__gte=day_bounds(start)[0], slot__lt=day_bounds(end)[0]
    ).order_by("slot")
    for sample in capacity:
        by_day[sample.slot.astimezone(UTC).date()].add(sample.hours, sample.cpu, sample.memory, sample.gpu)
    load_period(k3s_source(cluster), start, k3s_rows(cluster, sorted(by_day.items())))


# ---------------------------------------------------------------- one slot, end to end


def sample_and_allocate(*, cluster: Cluster, slot: datetime, driver: ClusterDriver) -> Sampled:
    """Sample the slot, then re-allocate its day (the task's one call)."""
    sampled = cluster_sample(cluster=cluster, slot=slot, driver=driver)
    allocate_day(cluster=cluster, day=sampled.slot.astimezone(UTC).date())
    return sampled


def clusters_to_sample() -> QuerySet[Cluster]:
    """The clusters with an enabled ``kubernetes`` cost source: allocation is on for them."""
    ids = CostSource.objects.filter(kind=SourceKind.KUBERNETES, enabled=True, cluster__isnull=False).values(
        "cluster_id"
    )
    return Cluster.objects.filter(pk__in=ids).select_related("region")


def reallocate(*, cluster: Cluster, days: Sequence[date]) -> None:
    """Allocate several days again (after a rule or a price changed)."""
    for day in days:
        allocate_day(cluster=cluster, day=day)
