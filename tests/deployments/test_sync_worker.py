"""The scheduled sync runs in a real Celery worker process: beat's task starts the runs, the worker carries them out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployments import tasks
from deployments.choices import Health
from deployments.models import Workload
from deployments.workflows import SYNC
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.factories import ClusterFactory
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from workflows.models import Run, RunStatus


def test_the_beat_task_syncs_every_cluster_through_the_worker(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path  # the worker's sandbox is the same directory
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    cluster = Cluster.objects.select_related("region__account").get(pk=ClusterFactory.create().pk)
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    driver.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "core-services", "labels": {}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "api:2.3.1"}]}}},
            "status": {"readyReplicas": 2},
        }
    )

    tasks.sync_clusters.delay()

    def finished_run() -> Run | None:
        return Run.objects.filter(kind=SYNC, subject_id=str(cluster.pk), status=RunStatus.SUCCEEDED).first()

    wait_until(finished_run, timeout=60)
    run = finished_run()
    assert run is not None
    assert list(run.steps.values_list("action", "status")) == [("workloads", "succeeded"), ("argocd", "succeeded")]
    api = Workload.objects.get(cluster=cluster, name="api")
    assert (api.version, api.health) == ("2.3.1", Health.HEALTHY)
