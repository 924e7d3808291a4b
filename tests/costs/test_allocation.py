"""Kubernetes allocation: samples become shares that split a cluster's cost to the last digit; k3s is priced."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Sum

from access.models import Team, Tier
from costs.allocation import services as allocation
from costs.choices import RuleKind, SourceKind
from costs.focus import read_focus
from costs.models import (
    AllocationSample,
    AllocationShare,
    AttributionRule,
    CapacitySample,
    CostLineItem,
    CostRollup,
    CostSource,
)
from costs.prices import PriceMissing
from costs.store import load_period
from environments.choices import EnvironmentStatus
from environments.models import Environment
from providers.sandbox.cluster import SandboxClusterDriver
from regions.choices import ClusterKind, Provider
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.costs.allocation_cluster import (
    DAY,
    at_hour,
    namespace,
    node,
    pod,
    pod_metrics,
    prices,
    sandbox_for,
)
from tests.costs.focus_files import focus_csv, focus_row
from tests.environments.factories import saved_template
from tests.factories import ClusterFactory, NamespaceFactory, OnPremRegionFactory, TeamFactory, make_user

pytestmark = pytest.mark.django_db

GIB = 2**30


def make_cluster(name: str, kind: str = ClusterKind.EKS) -> Cluster:
    fields: dict[str, object] = {"name": name, "kind": kind}
    if kind == ClusterKind.K3S:
        fields["region"] = OnPremRegionFactory()
    return Cluster.objects.select_related("region").get(pk=ClusterFactory(**fields).pk)  # type: ignore[attr-defined]


def make_team(slug: str) -> Team:
    return Team.objects.get(pk=TeamFactory(slug=slug).pk)  # type: ignore[attr-defined]


def make_environment(team: Team) -> Environment:
    return Environment.objects.create(
        team=team,
        name="preview-7",
        template=saved_template(slug="preview-alloc", name="Preview (allocation)"),
        tier=Tier.STAGING,
        cluster=ClusterFactory.create(),
        requested_by=make_user(),
        status=EnvironmentStatus.READY,
        monthly_estimate="10.00",
        currency="USD",
    )


def total(column: str = "effective_cost", **filters: object) -> Decimal:
    return CostRollup.objects.filter(**filters).aggregate(total=Sum(column))["total"] or Decimal(0)


def shared_cluster(tmp_path: Path, name: str = "eks-shared") -> tuple[Cluster, SandboxClusterDriver]:
    """Three namespaces with odd requests (one with a GPU, one over its request), two nodes, metrics-server."""
    cluster = make_cluster(name)
    driver = sandbox_for(cluster, tmp_path)
    for item in (
        namespace("payments"),
        namespace("search"),
        namespace("ml"),
        pod("payments", "api-1", {"cpu": "333m", "memory": "700Mi"}),
        pod("payments", "api-2", {"cpu": "1", "memory": "1Gi"}),
        pod("search", "indexer", {"cpu": "250m", "memory": "3Gi"}),
        pod("ml", "trainer", {"cpu": "1700m", "memory": "6Gi", "nvidia.com/gpu": "1"}),
        pod("payments", "migrate", {"cpu": "8", "memory": "8Gi"}, phase="Succeeded"),
        node("node-a", {"cpu": "7910m", "memory": "31Gi"}),
        node("gpu-a", {"cpu": "3920m", "memory": "15Gi", "nvidia.com/gpu": "1"}),
        node("node-dead", {"cpu": "64", "memory": "256Gi"}, ready=False),
    ):
        driver.seed(item)
    driver.install(
        "metrics.k8s.io",
        "v1beta1",
        "pods",
        [
            pod_metrics("payments", "api-1", "120000000n", "300Mi"),
            pod_metrics("search", "indexer", "1900m", "1Gi"),  # search uses more CPU than it asked for
        ],
    )
    prices(Provider.AWS, cpu="0.0416", memory="0.0051", gpu="1.006")
    return cluster, driver


def bill(cluster: Cluster, *amounts: str) -> None:
    """The cluster's node cost on ``DAY``, one line item per amount, plus one unrelated line item."""
    rows = [
        focus_row(DAY.isoformat(), amount, Tags={"eks:cluster-name": cluster.name}, ResourceId=f"i-{index}")
        for index, amount in enumerate(amounts)
    ]
    rows.append(focus_row(DAY.isoformat(), "5.00", ResourceId="db-1"))
    parsed = read_focus(focus_csv(rows))
    assert parsed.ok, parsed.errors
    source = CostSource.objects.create(name="aws-bill", kind=SourceKind.UPLOAD)
    load_period(source, DAY.replace(day=1), parsed.rows)


# ---------------------------------------------------------------- shares


def test_namespace_shares_plus_idle_equal_the_clusters_cost_to_the_last_decimal(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    for hour in (9, 10, 11):
        allocation.cluster_sample(cluster=cluster, slot=at_hour(hour, 7), driver=driver)
    bill(cluster, "100.00", "0.0700000001", "123.4567891234", "0.0000000003")

    shares = allocation.allocate_day(cluster=cluster, day=DAY)

    assert sum(share.weight for share in shares) == Decimal(1)
    assert {share.namespace for share in shares} == {"payments", "search", "ml", ""}
    cluster_cost = CostLineItem.objects.filter(cluster=cluster).aggregate(total=Sum("billed_cost"))["total"]
    assert cluster_cost == Decimal("223.5267891238")
    for column in ("billed_cost", "effective_cost", "list_cost"):
        namespaces = total(column, cluster=cluster, allocation__in=["namespace", "unallocated"], day=DAY)
        idle = total(column, cluster=cluster, allocation="idle")
        assert namespaces + idle == cluster_cost
    assert total() == cluster_cost + Decimal("5.00")  # nothing added on top of the bill
    # Each namespace gets its weight of the day's cost of the cluster's line items (those alike in every
    # dimension the rollups keep are added up first), rounded to ten places; idle is the rest.
    weight = {share.namespace: share.weight for share in shares}
    day_cost = sum(Decimal(amount) for amount in ("100.00", "0.0700000001", "123.4567891234", "0.0000000003"))
    for name in ("payments", "search", "ml"):
        assert total(cluster=cluster, namespace=name) == (day_cost * weight[name]).quantize(Decimal("1E-10"))
    assert weight[""] > 0  # the cluster has room to spare


def test_weights_come_from_the_price_of_max_request_usage_hours_over_capacity(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    cpu, memory, gpu = Decimal("0.0416"), Decimal("0.0051"), Decimal("1.006")
    ml = Decimal("1.7") * cpu + 6 * memory + gpu
    capacity = Decimal("11.83") * cpu + 46 * memory + gpu
    assert shares["ml"].weight == (ml / capacity).quantize(Decimal("1E-10"), rounding="ROUND_DOWN")
    assert (shares["ml"].cpu_hours, shares["ml"].memory_gib_hours, shares["ml"].gpu_hours) == (
        Decimal("1.7"),
        Decimal(6),
        Decimal(1),
    )
    # The idle row explains itself: capacity hours left after what the namespaces were charged.
    assert shares[""].gpu_hours == 0
    assert shares[""].cpu_hours == Decimal("11.83") - sum(s.cpu_hours for n, s in shares.items() if n)


def test_a_namespace_is_charged_the_larger_of_its_requests_and_its_usage(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    # payments asked for 1.333 cores and used 0.12 of them: charged its request; likewise for memory.
    assert shares["payments"].cpu_hours == Decimal("1.333")
    assert shares["payments"].memory_gib_hours == Decimal("1.6836")  # 700Mi + 1Gi, rounded to 4 places
    # search asked for 0.25 cores but used 1.9: charged what it used. It used 1Gi of the 3Gi it asked for.
    assert shares["search"].cpu_hours == Decimal("1.9")
    assert shares["search"].memory_gib_hours == Decimal(3)
    sample = AllocationSample.objects.get(namespace="search")
    assert (sample.cpu_request, sample.cpu_usage) == (Decimal("0.25"), Decimal("1.9"))


def test_without_metrics_server_namespaces_are_charged_their_requests(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    driver.install("metrics.k8s.io", "v1beta1", "pods", [])
    with driver._state(write=True) as state:  # uninstall metrics-server
        del state["installed"]["metrics.k8s.io/v1beta1/pods"]
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    assert AllocationSample.objects.get(namespace="search").cpu_usage is None
    assert shares["search"].cpu_hours == Decimal("0.25")


def test_shared_idle_goes_to_the_namespaces_in_proportion_and_the_cost_still_adds_up(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    CostSource.objects.create(
        name="eks-shared-allocation", kind=SourceKind.KUBERNETES, cluster=cluster, share_idle=True
    )
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)
    bill(cluster, "100.00", "33.3333333333", "0.0000000001")

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    assert shares[""].weight == 0
    assert sum(share.weight for share in shares.values()) == Decimal(1)
    cluster_cost = Decimal("133.3333333334")
    namespaces = total(cluster=cluster, allocation__in=["namespace", "unallocated"])
    idle = total(cluster=cluster, allocation="idle")
    assert namespaces + idle == cluster_cost
    assert abs(idle) <= Decimal("3E-10")  # only what rounding each line item to ten places leaves
    # In proportion: the ratio of two namespaces' costs is the ratio of their charged values.
    values = {name: share.weight for name, share in shares.items() if name}
    assert total(namespace="ml") / total(namespace="payments") == pytest.approx(values["ml"] / values["payments"])


def test_a_cluster_with_no_usage_at_all_is_all_idle(tmp_path: Path) -> None:
    cluster = make_cluster("empty")
    driver = sandbox_for(cluster, tmp_path)
    driver.seed(node("node-a", {"cpu": "4", "memory": "16Gi"}))
    prices(Provider.AWS, cpu="0.04", memory="0.005", gpu="1")
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)

    shares = allocation.allocate_day(cluster=cluster, day=DAY)

    assert [(share.namespace, share.weight) for share in shares] == [("", Decimal(1))]


def test_a_missing_price_for_a_resource_in_use_is_named_not_taken_as_zero(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    from costs.models import PriceItem

    PriceItem.objects.filter(kind="gpu").delete()
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)

    with pytest.raises(PriceMissing, match="GPU on AWS"):
        allocation.allocate_day(cluster=cluster, day=DAY)
    assert not AllocationShare.objects.exists()


# ---------------------------------------------------------------- sampling


def test_sampling_the_same_slot_twice_counts_the_hour_once(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)

    allocation.cluster_sample(cluster=cluster, slot=at_hour(10, 5), driver=driver)
    driver.seed(pod("payments", "api-3", {"cpu": "2", "memory": "1Gi"}))  # scaled up within the hour
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10, 55), driver=driver)
    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    assert AllocationSample.objects.filter(namespace="payments").count() == 1
    assert CapacitySample.objects.count() == 1
    # One hour, as the hour's last sample saw it (3.333 cores), not two hours added up.
    assert shares["payments"].cpu_hours == Decimal("3.333")


def test_each_slot_of_the_day_adds_its_hours(tmp_path: Path) -> None:
    cluster, driver = shared_cluster(tmp_path)
    for hour in range(0, 24, 6):
        allocation.cluster_sample(cluster=cluster, slot=at_hour(hour), driver=driver)
    allocation.cluster_sample(cluster=cluster, slot=at_hour(0, day=DAY + timedelta(days=1)), driver=driver)

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    assert shares["ml"].gpu_hours == 4  # four hourly slots that day; the next day's slot is not counted


# ---------------------------------------------------------------- owners


def test_namespaces_are_owned_by_label_rules_then_portal_labels_then_the_inventory_else_unallocated(
    tmp_path: Path,
) -> None:
    cluster = make_cluster("eks-owned")
    driver = sandbox_for(cluster, tmp_path)
    search, payments, ml = (make_team(slug) for slug in ("search", "payments", "ml"))
    environment = make_environment(payments)
    NamespaceFactory(cluster=cluster, name="ml-training", team=ml)
    AttributionRule.objects.create(kind=RuleKind.NAMESPACE_LABEL, key="cost-center", value="cc-9", team=search)
    for item in (
        namespace("by-rule", {"cost-center": "cc-9", "platform-portal.io/team": "payments"}),
        namespace("by-portal", {"platform-portal.io/environment-id": str(environment.pk)}),
        namespace("ml-training"),
        namespace("nobodys"),
        node("node-a", {"cpu": "8", "memory": "32Gi"}),
    ):
        driver.seed(item)
    for name in ("by-rule", "by-portal", "ml-training", "nobodys"):
        driver.seed(pod(name, "app", {"cpu": "1", "memory": "1Gi"}))
    prices(Provider.AWS, cpu="0.04", memory="0.005", gpu="1")
    allocation.cluster_sample(cluster=cluster, slot=at_hour(10), driver=driver)
    bill(cluster, "80.00")

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}

    assert shares["by-rule"].team_id == search.pk
    assert (shares["by-portal"].environment_id, shares["by-portal"].team_id) == (environment.pk, payments.pk)
    assert shares["ml-training"].team_id == ml.pk
    assert shares["nobodys"].team_id is None
    unallocated = CostRollup.objects.get(cluster=cluster, namespace="nobodys")
    assert unallocated.allocation == "unallocated"
    assert unallocated.effective_cost == (Decimal(80) * shares["nobodys"].weight).quantize(Decimal("1E-10"))


# ---------------------------------------------------------------- k3s


def test_a_k3s_clusters_cost_comes_from_the_rate_card_and_is_split_like_a_bill(tmp_path: Path) -> None:
    cluster = make_cluster("k3s-centre", kind=ClusterKind.K3S)
    driver = sandbox_for(cluster, tmp_path)
    for item in (
        namespace("analytics"),
        pod("analytics", "jobs", {"cpu": "3", "memory": "4Gi", "nvidia.com/gpu": "1"}),
        node("centre-1", {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"}),
    ):
        driver.seed(item)
    prices(Provider.ON_PREM, cpu="0.015", memory="0.002", gpu="0.300")
    prices(Provider.AWS, cpu="1", memory="1", gpu="1")  # not used: k3s is priced from the on-prem rate card

    for hour in (10, 11):
        allocation.sample_and_allocate(cluster=cluster, slot=at_hour(hour), driver=driver)

    # Two hours of 8 cores, 16 GiB and one GPU: 2 x (8 x 0.015 + 16 x 0.002 + 0.300) = 0.904.
    day_cost = Decimal("0.904")
    assert CostLineItem.objects.filter(provider="on_prem").aggregate(total=Sum("billed_cost"))["total"] == day_cost
    source = CostSource.objects.get(cluster=cluster)
    assert source.kind == SourceKind.KUBERNETES
    items = CostLineItem.objects.filter(cluster=cluster)
    assert {item.tags["portal:cluster"] for item in items} == {"k3s-centre"}
    assert total(cluster=cluster) == day_cost
    assert total(cluster=cluster, provider="on_prem") == day_cost
    # analytics: 2 x (3 x 0.015 + 4 x 0.002 + 0.300) = 0.706 of it; the rest is idle.
    assert total(cluster=cluster, namespace="analytics") == Decimal("0.706")
    assert total(cluster=cluster, allocation="idle") == Decimal("0.198")

    # A third hour raises the day's cost; the month is loaded again, not added to.
    allocation.sample_and_allocate(cluster=cluster, slot=at_hour(12), driver=driver)
    assert total(cluster=cluster) == Decimal("1.356")
    assert source.loads.get().loads == 3


def test_a_k3s_cluster_without_a_rate_card_says_which_price_is_missing(tmp_path: Path) -> None:
    cluster = make_cluster("k3s-unpriced", kind=ClusterKind.K3S)
    driver = sandbox_for(cluster, tmp_path)
    driver.seed(node("centre-1", {"cpu": "8", "memory": "16Gi"}))
    prices(Provider.AWS, cpu="1", memory="1", gpu="1")

    with pytest.raises(PriceMissing, match="CPU on On-prem"):
        allocation.sample_and_allocate(cluster=cluster, slot=at_hour(10), driver=driver)


# ---------------------------------------------------------------- the schedule


def test_beat_samples_twice_per_slot_so_a_drifting_beat_misses_none(settings: Any) -> None:
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["costs-allocation-sample"]

    assert entry["schedule"] == settings.COST_ALLOCATION_SAMPLE_SECONDS / 2
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert "costs.allocation.sample_cluster" in app.tasks


def test_a_cluster_that_cannot_be_priced_is_noted_on_its_source_and_not_allocated(
    settings: Any, tmp_path: Path
) -> None:
    from costs.allocation.tasks import sample_cluster

    settings.DATA_DIR = tmp_path
    cluster = make_cluster("k3s-no-rates", kind=ClusterKind.K3S)
    source = CostSource.objects.create(name="k3s-no-rates", kind=SourceKind.KUBERNETES, cluster=cluster)
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    driver.seed(node("centre-1", {"cpu": "8", "memory": "16Gi"}))

    assert sample_cluster(cluster.pk, at_hour(10).isoformat()) == 0

    source.refresh_from_db()
    assert "no price" in source.last_error
    assert "CPU on On-prem" in source.last_error
    assert not AllocationShare.objects.filter(cluster=cluster).exists()
