"""The portal's one door to drivers: an inventory region or cluster in, a working driver out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from providers.cloud import KubernetesClusterSpec
from providers.cluster import NamespaceSpec
from providers.errors import InvalidRequest
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.sandbox.cloud import SandboxCloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions.choices import AuthMethod, ClusterKind
from regions.drivers import cloud_driver_for, cluster_driver_for, sandbox_dir
from regions.models import Cluster, Region
from tests.factories import (
    CloudAccountFactory,
    ClusterFactory,
    OnPremRegionFactory,
    RegionFactory,
)
from tests.providers.kube_fake import FakeKubeApi

pytestmark = pytest.mark.django_db
SPEC = KubernetesClusterSpec(name="eks-orders", version="1.34", subnet_ids=("subnet-1",))


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    with override_settings(DATA_DIR=tmp_path):
        yield tmp_path


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeKubeApi, str]]:
    fake = FakeKubeApi()
    host = fake.start(tls=True)
    yield fake, host
    fake.stop()


def region() -> Region:
    return Region.objects.select_related("account").get(pk=RegionFactory.create().pk)


def test_the_sandbox_lives_in_the_data_directory(data_dir: Path) -> None:
    assert sandbox_dir() == data_dir / "sandbox"


@override_settings(PROVIDER_MODE="sandbox")
def test_in_sandbox_mode_a_region_gets_a_sandbox_cloud_that_the_web_and_a_worker_share(data_dir: Path) -> None:
    place = region()

    cloud_driver_for(place).ensure_kubernetes_cluster(SPEC)
    worker = cloud_driver_for(Region.objects.get(pk=place.pk))

    assert isinstance(worker, SandboxCloudDriver)
    assert worker.describe_kubernetes_cluster("eks-orders").name == "eks-orders"
    assert worker.state_dir.is_relative_to(data_dir / "sandbox")


@override_settings(PROVIDER_MODE="sandbox", SANDBOX_LATENCY_SECONDS=3600)
def test_the_sandbox_latency_setting_keeps_new_cloud_resources_creating(data_dir: Path) -> None:
    assert cloud_driver_for(region()).ensure_kubernetes_cluster(SPEC).status == "creating"


@override_settings(PROVIDER_MODE="sandbox", SANDBOX_LATENCY_SECONDS=0)
def test_without_sandbox_latency_new_cloud_resources_are_available_at_once(data_dir: Path) -> None:
    assert cloud_driver_for(region()).ensure_kubernetes_cluster(SPEC).status == "available"


def test_an_on_prem_site_without_an_account_has_no_cloud_driver(data_dir: Path) -> None:
    with pytest.raises(InvalidRequest, match="has no cloud account"):
        cloud_driver_for(OnPremRegionFactory.create())


@override_settings(PROVIDER_MODE="sandbox")
def test_in_sandbox_mode_clusters_of_the_same_name_in_two_regions_get_separate_sandbox_clusters(
    data_dir: Path,
) -> None:
    first = ClusterFactory.create(name="shared-name")
    second = ClusterFactory.create(name="shared-name")
    assert first.region_id != second.region_id

    cluster_driver_for(first).ensure_namespace(NamespaceSpec("payments-dev"))

    again = cluster_driver_for(Cluster.objects.get(pk=first.pk))
    other = cluster_driver_for(second)
    assert isinstance(again, SandboxClusterDriver)
    assert isinstance(other, SandboxClusterDriver)
    assert [ns["metadata"]["name"] for ns in again.objects("Namespace")] == ["payments-dev"]
    assert other.objects("Namespace") == []


# The fake API server is on loopback: opened as an administrator opens a centre's private range.
@override_settings(PROVIDER_MODE="live", CLUSTER_PRIVATE_NETWORKS=["127.0.0.1/32"])
def test_a_live_k3s_cluster_is_reached_with_its_stored_kubeconfig(
    fake_api: tuple[FakeKubeApi, str], data_dir: Path
) -> None:
    fake, _ = fake_api
    site = OnPremRegionFactory.create(
        account=CloudAccountFactory.create(provider="on_prem", auth_method=AuthMethod.SANDBOX, role_arn="")
    )
    cluster = ClusterFactory.create(region=site, kind=ClusterKind.K3S, kubeconfig=fake.kubeconfig(token="site-token"))

    driver = cluster_driver_for(Cluster.objects.get(pk=cluster.pk))
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert isinstance(driver, KubernetesClusterDriver)
    assert [ns["metadata"]["name"] for ns in fake.objects("Namespace")] == ["payments-dev"]
    assert {authorization for _, _, authorization in fake.requests} == {"Bearer site-token"}


@override_settings(PROVIDER_MODE="live")
def test_a_stored_kubeconfig_whose_server_the_rules_refuse_is_never_contacted(
    fake_api: tuple[FakeKubeApi, str], data_dir: Path
) -> None:
    fake, _ = fake_api
    site = OnPremRegionFactory.create(
        account=CloudAccountFactory.create(provider="on_prem", auth_method=AuthMethod.SANDBOX, role_arn="")
    )
    # Stored before the rules (factories skip validation), pointing at loopback, which no setting opens here.
    cluster = ClusterFactory.create(region=site, kind=ClusterKind.K3S, kubeconfig=fake.kubeconfig(token="site-token"))

    with pytest.raises(InvalidRequest, match=r"127\.0\.0\.1 is a loopback address"):
        cluster_driver_for(Cluster.objects.get(pk=cluster.pk)).ensure_namespace(NamespaceSpec("payments-dev"))

    assert fake.requests == []


@override_settings(PROVIDER_MODE="live")
def test_a_live_eks_cluster_of_a_sandbox_account_is_a_sandbox_cluster(data_dir: Path) -> None:
    account = CloudAccountFactory.create(auth_method=AuthMethod.SANDBOX, role_arn="")
    cluster = ClusterFactory.create(region=RegionFactory.create(account=account))

    assert isinstance(cluster_driver_for(cluster), SandboxClusterDriver)


@override_settings(PROVIDER_MODE="live")
def test_a_live_k3s_cluster_without_a_kubeconfig_says_so(data_dir: Path) -> None:
    cluster = ClusterFactory.create(region=OnPremRegionFactory.create(), kind=ClusterKind.K3S, kubeconfig="")

    with pytest.raises(InvalidRequest, match="none is stored"):
        cluster_driver_for(cluster)
