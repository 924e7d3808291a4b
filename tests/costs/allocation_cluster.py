"""Building a cluster for allocation tests: namespaces, pods, nodes and metrics in Kubernetes' own shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costs.choices import PriceUnit
from costs.models import PriceItem
from providers.sandbox.cluster import SandboxClusterDriver
from regions.choices import ResourceKind
from regions.models import Cluster

DAY = date(2026, 11, 3)


def at_hour(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def pod(namespace: str, name: str, requests: dict[str, str], phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": "example/app:1", "resources": {"requests": requests}}]},
        "status": {"phase": phase},
    }


def node(name: str, allocatable: dict[str, str], ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod_metrics(namespace: str, name: str, cpu: str, memory: str) -> dict[str, Any]:
    """A ``PodMetrics`` as metrics-server serves it."""
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-11-03T10:00:00Z"},
        "timestamp": "2026-11-03T10:00:00Z",
        "window": "15.012s",
        "containers": [{"name": "main", "usage": {"cpu": cpu, "memory": memory}}],
    }


def sandbox_for(cluster: Cluster, directory: Path) -> SandboxClusterDriver:
    return SandboxClusterDriver(directory, cluster.name, sleep=lambda _: None)


def prices(provider: str, cpu: str, memory: str, gpu: str, currency: str = "USD") -> None:
    """CPU, memory and GPU prices of ``provider`` in every region, from well before the test's day."""
    for kind, unit, price in (
        (ResourceKind.CPU, PriceUnit.VCPU_HOUR, cpu),
        (ResourceKind.MEMORY, PriceUnit.GIB_HOUR, memory),
        (ResourceKind.GPU, PriceUnit.GPU_HOUR, gpu),
    ):
        PriceItem.objects.create(
            provider=provider,
            kind=kind,
            unit=unit,
            price=Decimal(price),
            currency=currency,
            effective_from=DAY - timedelta(days=365),
        )
