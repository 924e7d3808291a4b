"""Fixtures of the deployments tests: a demo cluster on a sandbox of the test's own, with a Deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.deployments.cluster_objects import IMAGES, seed_deployment


@pytest.fixture
def demo_cluster(demo: None, settings: Any, tmp_path: Path) -> Cluster:
    settings.DATA_DIR = tmp_path  # a sandbox cluster of this test's own
    return Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")


@pytest.fixture
def driver(demo_cluster: Cluster) -> SandboxClusterDriver:
    driver = cluster_driver_for(demo_cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", IMAGES)
    return driver
