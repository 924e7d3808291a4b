"""The allocation sampler in a real Celery worker process: beat's fan-out, and a slot sampled thrice counts once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from costs.allocation import services as allocation
from costs.allocation.tasks import sample_cluster, sample_clusters
from costs.choices import SourceKind
from costs.models import AllocationSample, CapacitySample, CostLineItem, CostLoad, CostSource
from portal.demo import load_demo
from providers.sandbox.cluster import SandboxClusterDriver
from regions.choices import ClusterKind
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.costs.allocation_cluster import namespace, node, pod
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


def loads_of(source: CostSource) -> int:
    load = CostLoad.objects.filter(source=source).first()
    return load.loads if load else 0


def test_the_worker_samples_a_k3s_cluster_and_a_slot_sampled_again_is_counted_once(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the worker's sandbox is the same directory
    cluster = Cluster.objects.select_related("region").filter(kind=ClusterKind.K3S).order_by("pk").first()
    assert cluster is not None
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    for item in (
        namespace("analytics"),
        pod("analytics", "jobs", {"cpu": "2", "memory": "4Gi"}),
        node("centre-1", {"cpu": "8", "memory": "16Gi"}),
    ):
        driver.seed(item)
    driver.simulate_metrics()
    source = CostSource.objects.create(name="k3s-allocation", kind=SourceKind.KUBERNETES, cluster=cluster)
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})

    assert sample_clusters.delay() is not None  # beat's task: one sample per cluster with allocation on
    wait_until(lambda: loads_of(source) == 1, timeout=60)
    slot = CapacitySample.objects.get(cluster=cluster).slot
    first_cost = CostLineItem.objects.filter(cluster=cluster).aggregate(total=Sum("billed_cost"))["total"]

    sample_cluster.delay(cluster.pk, slot.isoformat())
    sample_cluster.delay(cluster.pk, slot.isoformat())
    wait_until(lambda: loads_of(source) == 3, timeout=60)

    assert AllocationSample.objects.filter(cluster=cluster, namespace="analytics").count() == 1
    assert CapacitySample.objects.filter(cluster=cluster).count() == 1
    again = CostLineItem.objects.filter(cluster=cluster).aggregate(total=Sum("billed_cost"))["total"]
    assert again == first_cost
    # One hour of 8 cores and 16 GiB at the demo's on-prem rate card (0.015 per vCPU-hour, 0.002 per GiB-hour).
    assert first_cost == Decimal("0.152")
    assert allocation.slot_of(timezone.now()) >= slot
    source.refresh_from_db()
    assert source.last_error == ""
