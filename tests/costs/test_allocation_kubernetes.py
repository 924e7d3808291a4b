"""Sampling a real driver: the official Kubernetes client against the fake API server, metrics API included."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from kubernetes import client

from costs.allocation import services as allocation
from costs.models import AllocationSample, CapacitySample
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from regions.models import Cluster
from tests.costs.allocation_cluster import DAY, at_hour, namespace, node, pod, prices
from tests.factories import ClusterFactory
from tests.providers.kube_fake import FakeKubeApi

pytestmark = pytest.mark.django_db
MIB = 2**20


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi()
    api.start()
    yield api
    api.stop()


def driver_for(fake: FakeKubeApi) -> KubernetesClusterDriver:
    assert fake.server is not None
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{fake.server.server_address[1]}"
    return KubernetesClusterDriver(configuration, retry_policy=RetryPolicy(attempts=2, base_seconds=0.01))


def test_a_sample_through_the_kubernetes_client_reads_requests_metrics_usage_labels_and_ready_capacity(
    fake: FakeKubeApi,
) -> None:
    cluster = Cluster.objects.select_related("region").get(pk=ClusterFactory(name="eks-real").pk)  # type: ignore[attr-defined]
    for item in (
        namespace("payments", {"platform-portal.io/team": "payments"}),
        namespace("search"),
        pod("payments", "api-1", {"cpu": "500m", "memory": "512Mi"}),
        pod("search", "indexer", {"cpu": "250m", "memory": "1Gi", "nvidia.com/gpu": "1"}),
        pod("search", "done", {"cpu": "4", "memory": "4Gi"}, phase="Succeeded"),
        node("node-a", {"cpu": "3920m", "memory": "15Gi", "nvidia.com/gpu": "1"}),
        node("node-b", {"cpu": "4", "memory": "16Gi"}, ready=False),
    ):
        fake.put(item)
    # What metrics-server serves: nanocores and KiB, with the scrape's timestamp and window.
    fake.put_pod_metrics("payments", "api-1", {"main": {"cpu": "123456789n", "memory": "262144Ki"}})
    fake.put_pod_metrics("search", "indexer", {"main": {"cpu": "1500000000n", "memory": "524288Ki"}})
    prices("aws", cpu="0.04", memory="0.005", gpu="1.00")

    sampled = allocation.cluster_sample(cluster=cluster, slot=at_hour(10, 30), driver=driver_for(fake))

    assert (sampled.slot, sampled.namespaces, sampled.nodes) == (at_hour(10), 2, 1)
    paths = [path.partition("?")[0] for method, path, _ in fake.requests if method == "GET"]
    assert "/apis/metrics.k8s.io/v1beta1/pods" in paths
    payments = AllocationSample.objects.get(namespace="payments")
    assert (payments.cpu_request, payments.cpu_usage) == (Decimal("0.5"), Decimal("0.1235"))
    assert (payments.memory_request, payments.memory_usage) == (512 * MIB, 256 * MIB)
    assert payments.labels["platform-portal.io/team"] == "payments"
    search = AllocationSample.objects.get(namespace="search")
    assert (search.cpu_request, search.cpu_usage, search.gpu_request) == (Decimal("0.25"), Decimal("1.5"), 1)
    capacity = CapacitySample.objects.get()
    assert (capacity.nodes, capacity.cpu, capacity.memory, capacity.gpu) == (1, Decimal("3.92"), 15 * 2**30, 1)

    shares = {share.namespace: share for share in allocation.allocate_day(cluster=cluster, day=DAY)}
    # max(request, usage): payments its request of 0.5 cores, search its usage of 1.5.
    assert (shares["payments"].cpu_hours, shares["search"].cpu_hours) == (Decimal("0.5"), Decimal("1.5"))
    assert sum(share.weight for share in shares.values()) == 1
