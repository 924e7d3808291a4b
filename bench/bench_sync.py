"""Cluster sync of 10,000 workloads: a first sync, a re-sync with 1% changed, and one with nothing changed.

Baselines, in this process: reading the cluster alone (``list_workloads``,
the part no sync can avoid, slow on the sandbox, which parses its JSON
document once per kind) and a bare ``bulk_create`` of the same 10,000 rows
(the least a first sync can write). Each sync's own part (matching,
comparing, writing, recording deployments: the cluster already read) is
timed against the bulk insert and its queries counted; the whole sync's time
is shown beside it. ``BENCH_SYNC_WORKLOADS`` sets the cluster's size
(default 10,000; 300 at smoke size).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.report import best_of, report, timed
from bench.sizes import size
from deployments import sync
from deployments.models import Deployment, Service, Workload
from providers.cluster import Workload as SeenWorkload
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.factories import ClusterFactory, ServiceFactory, TeamFactory

WORKLOADS = size("BENCH_SYNC_WORKLOADS", full=10_000, smoke=300)
SERVICES = 200
NAMESPACES = ("core-services", "student-services", "tutor-services", "admin-services", "analytics", "monitoring")
CHANGED_SHARE = 100  # one workload in this many gets a new version


def manifest(n: int, version: str = "1.0.0") -> dict[str, Any]:
    """Workload ``n``: one of the four kinds, in one of the spec's namespaces, of one of the services."""
    kind = ("Deployment", "Deployment", "StatefulSet", "DaemonSet", "CronJob")[n % 5]
    name = f"workload-{n}"
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": f"registry.example.com/service-{n % SERVICES}:{version}"}]},
    }
    spec: dict[str, Any]
    status: dict[str, Any]
    if kind == "CronJob":
        spec, status = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}, {}
    elif kind == "DaemonSet":
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        status = {"desiredNumberScheduled": 3, "numberReady": 3}
    else:
        spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}
        status = {"readyReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    return {
        "apiVersion": "batch/v1" if kind == "CronJob" else "apps/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": NAMESPACES[n % len(NAMESPACES)],
            "labels": {"app.kubernetes.io/part-of": f"service-{n % SERVICES}"},
        },
        "spec": spec,
        "status": status,
    }


def sandbox_cluster() -> tuple[Cluster, SandboxClusterDriver]:
    cluster = Cluster.objects.select_related("region__account").get(pk=ClusterFactory.create().pk)
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    return cluster, driver


class Listed:
    """A driver that answers ``list_workloads`` with what was already read: times the sync's own work."""

    def __init__(self, workloads: list[SeenWorkload]) -> None:
        self.workloads = workloads

    def list_workloads(self, namespace: str | None = None) -> list[SeenWorkload]:
        return self.workloads


def timed_sync(cluster: Cluster, driver: SandboxClusterDriver) -> tuple[float, float, int, sync.WorkloadSync]:
    """Seconds of the whole sync, seconds of its own part (reading the cluster left out), queries, result."""
    with timed() as reading:
        seen = driver.list_workloads()
    with CaptureQueriesContext(connection) as captured, timed() as watch:
        result = sync.sync_cluster(cluster, driver=Listed(seen))  # type: ignore[arg-type]
    return reading.seconds + watch.seconds, watch.seconds, len(captured.captured_queries), result


@pytest.mark.django_db
def bench_sync_of_ten_thousand_workloads(tmp_path: Path) -> None:
    with override_settings(DATA_DIR=tmp_path):
        team = TeamFactory.create()
        for n in range(SERVICES):
            ServiceFactory.create(slug=f"service-{n}", team=team)
        cluster, driver = sandbox_cluster()
        driver.seed_many([manifest(n) for n in range(WORKLOADS)])

        # Baselines: reading the cluster, and writing the same rows with one bare bulk insert.
        with timed() as reading:
            seen = driver.list_workloads()

        def bare_insert() -> float:
            other, _ = sandbox_cluster()
            now = timezone.now()
            rows = [
                Workload(
                    cluster=other,
                    namespace=w.namespace,
                    kind=w.kind,
                    name=w.name,
                    images=list(w.images),
                    version=sync.workload_version(w),
                    labels=dict(w.labels),
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for w in seen
            ]
            with timed() as inserting:
                Workload.objects.bulk_create(rows, batch_size=sync.BATCH_SIZE)
            return inserting.seconds

        base = best_of(3, bare_insert)  # the first insert into a fresh table pays for warming up

        first_total, first_seconds, first_queries, first = timed_sync(cluster, driver)
        assert (first.seen, first.created, first.deployments) == (WORKLOADS, WORKLOADS, 0)

        changed = [n for n in range(WORKLOADS) if n % CHANGED_SHARE == 0]
        driver.seed_many([manifest(n, version="1.1.0") for n in changed])
        again_total, again_seconds, again_queries, again = timed_sync(cluster, driver)
        assert (again.changed, again.unchanged, again.created, again.gone) == (
            len(changed),
            WORKLOADS - len(changed),
            0,
            0,
        )
        assert Workload.objects.filter(cluster=cluster, version="1.1.0").count() == len(changed)
        assert Deployment.objects.filter(version="1.1.0").exists()

        idle_total, idle_seconds, idle_queries, idle = timed_sync(cluster, driver)
        assert (idle.changed, idle.deployments) == (0, 0)
        assert Workload.objects.filter(cluster=cluster).count() == WORKLOADS, "lost or duplicated"
        assert Service.objects.count() == SERVICES

    def line(total: float, own: float, queries: int) -> str:
        return f"{own:.2f} s = {own / base:.1f}x, {queries} queries (with reading the cluster: {total:.2f} s)"

    report(
        f"cluster sync, {WORKLOADS} workloads of {SERVICES} services (sandbox cluster)",
        [
            ("read the cluster (list_workloads)", f"{reading.seconds:.2f} s"),
            ("baseline: bare bulk_create of the rows", f"{base:.2f} s = 1.0x"),
            ("first sync", line(first_total, first_seconds, first_queries)),
            (
                f"re-sync, {len(changed)} changed ({100 // CHANGED_SHARE}%)",
                line(again_total, again_seconds, again_queries) + f", {again.deployments} record_deployment calls",
            ),
            ("re-sync, nothing changed", line(idle_total, idle_seconds, idle_queries)),
        ],
    )
