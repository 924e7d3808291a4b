"""What only the sandbox cluster does: shared persisted state, latency and random faults."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from providers.cluster import NamespaceSpec
from providers.cluster_base import RESOURCES, StaleObject
from providers.errors import Unavailable
from providers.retry import RetryPolicy
from providers.sandbox.cluster import SandboxClusterDriver

FAST = RetryPolicy(attempts=2, base_seconds=0.001)


def test_two_drivers_on_the_same_directory_see_the_same_cluster(tmp_path: Path) -> None:
    web, worker = SandboxClusterDriver(tmp_path, "eu-1"), SandboxClusterDriver(tmp_path, "eu-1")

    created = worker.ensure_namespace(NamespaceSpec("payments-dev"))

    assert web.ensure_namespace(NamespaceSpec("payments-dev")).uid == created.uid
    assert json.loads((tmp_path / "eu-1.json").read_text())["objects"]["Namespace"]["/payments-dev"]


def test_each_cluster_has_its_own_document(tmp_path: Path) -> None:
    SandboxClusterDriver(tmp_path, "eu-1").ensure_namespace(NamespaceSpec("payments-dev"))

    assert SandboxClusterDriver(tmp_path, "us-1").objects("Namespace") == []


def test_concurrent_writers_lose_no_update_and_leave_no_temporary_file(tmp_path: Path) -> None:
    drivers = [SandboxClusterDriver(tmp_path, "eu-1") for _ in range(4)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: drivers[i % 4].ensure_namespace(NamespaceSpec(f"team-{i}")), range(24)))

    assert len(drivers[0].objects("Namespace")) == 24
    assert sorted(path.name for path in tmp_path.iterdir()) == ["eu-1.json", "eu-1.lock"]


def test_latency_slows_every_operation(tmp_path: Path) -> None:
    driver = SandboxClusterDriver(tmp_path, latency_seconds=0.05)

    started = time.monotonic()
    driver.list_workloads()

    assert time.monotonic() - started >= 0.05


def test_a_fault_rate_of_one_makes_every_try_fail_with_a_transient_error(tmp_path: Path) -> None:
    sleeps: list[float] = []
    driver = SandboxClusterDriver(tmp_path, fault_rate=1.0, retry_policy=FAST, sleep=sleeps.append)

    with pytest.raises(Unavailable):
        driver.ensure_namespace(NamespaceSpec("payments-dev"))
    assert len(sleeps) == 1
    assert driver.objects("Namespace") == []


def test_seeded_workloads_are_listed(tmp_path: Path) -> None:
    driver = SandboxClusterDriver(tmp_path)
    driver.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "payments-dev"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "api:1"}]}}},
            "status": {"readyReplicas": 2},
        }
    )

    [workload] = driver.list_workloads()

    assert (workload.name, workload.images, workload.replicas_ready) == ("api", ("api:1",), 2)


def test_the_sandbox_plays_metrics_server_with_usage_around_each_pods_requests(tmp_path: Path) -> None:
    driver = SandboxClusterDriver(tmp_path, "eu-1")
    driver.ensure_namespace(NamespaceSpec("payments"))
    for name in ("api-1", "api-2", "api-3"):
        driver.seed(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "payments"},
                "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
                "status": {"phase": "Running"},
            }
        )
    assert driver.namespace_usage()[0].cpu_usage is None  # no metrics-server yet

    assert driver.simulate_metrics() == 3
    first = driver.namespace_usage()[0]
    driver.simulate_metrics()

    assert driver.namespace_usage()[0] == first  # the same every time
    assert first.cpu_usage is not None
    assert first.memory_usage is not None
    assert Decimal("0.6") <= first.cpu_usage <= Decimal("4.2")  # 0.2 to 1.4 of each 1-core request
    served = driver._pod_metrics()
    assert served is not None
    assert {item["kind"] for item in served} == {"PodMetrics"}
    assert all(item["window"] and item["timestamp"] for item in served)
    assert all(item["containers"][0]["usage"]["cpu"].endswith("n") for item in served)


def test_a_patch_computed_from_an_older_version_is_refused_as_stale(tmp_path: Path) -> None:
    driver = SandboxClusterDriver(tmp_path, "eu")
    first = driver.ensure_namespace(NamespaceSpec("payments-dev"))
    driver.ensure_namespace(NamespaceSpec("payments-dev", {"team": "payments"}))
    namespace = RESOURCES["Namespace"]

    with pytest.raises(StaleObject):
        driver._patch(namespace, None, "payments-dev", {"metadata": {"resourceVersion": first.resource_version}})

    assert driver.objects("Namespace")[0]["metadata"]["labels"]["team"] == "payments"
