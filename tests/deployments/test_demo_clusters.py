"""`make run`'s demo: the workloads the matrix shows are in the sandbox clusters, so the scheduled sync keeps
them (rather than marking them all gone) and a demo Deployment can be rolled back to its previous release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from access.models import User
from deployments.choices import WorkloadKind
from deployments.demo import seed_demo_clusters
from deployments.live.services import workload_logs, workload_panel
from deployments.models import Workload
from deployments.rollbacks.services import rollback_choices
from deployments.sync import sync_cluster
from regions.models import Cluster

pytestmark = pytest.mark.django_db


def test_a_sync_after_the_demo_keeps_every_workload_and_version(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    before = dict(Workload.objects.filter(gone_at__isnull=True).values_list("pk", "version"))
    assert before, "the demo has workloads"

    assert seed_demo_clusters() == len(before)
    for cluster in Cluster.objects.filter(workloads__isnull=False).distinct().select_related("region__account"):
        sync_cluster(cluster)

    after = dict(Workload.objects.filter(gone_at__isnull=True).values_list("pk", "version"))
    assert after == before
    deployment = Workload.objects.filter(kind=WorkloadKind.DEPLOYMENT).exclude(version="latest").first()
    assert deployment is not None
    (previous,) = rollback_choices(deployment)
    assert previous.revision == deployment.revision - 1  # type: ignore[operator]


def test_every_demo_workload_shows_its_pods_events_and_logs_in_its_kubernetes_panel(
    demo: None, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    seed_demo_clusters()
    developer = User.objects.get(username="developer")

    for workload in Workload.objects.filter(gone_at__isnull=True).select_related("cluster__region", "service"):
        panel = workload_panel(workload)
        assert (panel.problem, panel.pods_problem, panel.events_problem) == ("", "", ""), workload
        assert panel.pods is not None
        assert len(panel.pods.pods) == max(workload.replicas_desired, 1), workload
        assert panel.events, workload
        worst = panel.worst_pod
        assert worst is not None
        read = workload_logs(workload, actor=developer, pod=worst.name)
        assert not read.problem, workload
        assert all(log.text for log in read.logs), workload

    # The student portal's staging release crash-loops: two of three pods, their back-off, the crash in their logs.
    degraded = Workload.objects.select_related("cluster__region").get(
        name="student-portal", environment__tier="staging"
    )
    panel = workload_panel(degraded)
    assert panel.pods is not None
    assert [pod.status for pod in panel.pods.pods] == ["CrashLoopBackOff", "CrashLoopBackOff", "Running"]
    assert panel.events[0].reason == "BackOff"
    crashing = panel.pods.pods[0]
    previous = workload_logs(degraded, actor=developer, pod=crashing.name, container="student-portal", previous=True)
    assert "KeyError: 'COURSE_CATALOGUE_URL'" in previous.logs[0].text
    # The API gateway's pods carry a mesh sidecar: two containers, two logs.
    gateway = Workload.objects.select_related("cluster__region").get(name="api-gateway", environment__tier="production")
    gateway_panel = workload_panel(gateway)
    assert gateway_panel.worst_pod is not None
    read = workload_logs(gateway, actor=developer, pod=gateway_panel.worst_pod.name)
    assert [log.container for log in read.logs] == ["api-gateway", "linkerd-proxy"]
    assert "<script>" in read.logs[1].text  # an upstream's HTML page, which the panel shows as text
