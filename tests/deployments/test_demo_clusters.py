"""`make run`'s demo: the workloads the matrix shows are in the sandbox clusters, so the scheduled sync keeps
them (rather than marking them all gone) and a demo Deployment can be rolled back to its previous release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployments.choices import WorkloadKind
from deployments.demo import seed_demo_clusters
from deployments.models import Workload
from deployments.rollback import rollback_choices
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
