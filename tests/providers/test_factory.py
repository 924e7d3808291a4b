"""The driver factory: from a plain configuration to a driver that works, in one call.

Sandbox drivers share their state between instances (what the web server and
a worker each build); the AWS driver assumes its role against moto; the
Kubernetes driver reaches the fake API server by kubeconfig and with cloud
tokens; configurations nothing can serve are refused with InvalidRequest.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.identity import ClientSecretCredential

from providers.aws.cloud import AwsCloudDriver
from providers.azure.cloud import AzureCloudDriver
from providers.cloud import KubernetesClusterInfo, KubernetesClusterSpec, NetworkSpec
from providers.cluster import NamespaceSpec
from providers.config import AccountConfig, ClusterConfig
from providers.errors import Conflict, InvalidRequest, NotFound
from providers.factory import cloud_driver, cluster_driver, token_cluster_driver
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.sandbox.cloud import SandboxCloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from tests.providers.conftest_cloud import ACCOUNT, REGION, moto_endpoint
from tests.providers.kube_fake import FakeKubeApi

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

NETWORK = NetworkSpec(
    name="orders-net",
    cidr="10.40.0.0/16",
    availability_zones=("eu-west-1a",),
    public_subnet_cidrs=("10.40.0.0/20",),
    private_subnet_cidrs=("10.40.16.0/20",),
    nat_gateway=False,
)
CLUSTER_SPEC = KubernetesClusterSpec(name="eks-orders", version="1.34", subnet_ids=("subnet-1",))


def sandbox_account(account_id: str = ACCOUNT, region: str = REGION, provider: str = "aws") -> AccountConfig:
    return AccountConfig(
        provider=provider, account_id=account_id, region_code=region, auth_method="sandbox", sandbox=True
    )


def live_aws_account(region: str = REGION, **changes: Any) -> AccountConfig:
    config = AccountConfig(
        provider="aws",
        account_id=ACCOUNT,
        region_code=region,
        auth_method="aws_assume_role",
        sandbox=False,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal",
        role_external_id="portal-test",
    )
    return dataclasses.replace(config, **changes)


def cluster(name: str = "k3s-dublin", **changes: object) -> ClusterConfig:
    config = ClusterConfig(
        name=name,
        kind="k3s",
        api_endpoint="https://dublin.centres.internal:6443",
        kubernetes_version="1.31",
        region_code=REGION,
        sandbox=False,
        account=None,
        provider="aws",
        access="kubeconfig",
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def authorizations(fake: FakeKubeApi) -> list[str]:
    return [authorization for _, _, authorization in fake.requests]


# --- sandbox ------------------------------------------------------------------------


def test_a_sandbox_account_gets_a_sandbox_cloud_whose_state_two_drivers_share(tmp_path: Path) -> None:
    web = cloud_driver(sandbox_account(), sandbox_dir=tmp_path)
    worker = cloud_driver(sandbox_account(), sandbox_dir=tmp_path)

    web.ensure_network(NETWORK)

    assert isinstance(web, SandboxCloudDriver)
    assert worker.describe_network("orders-net").cidr == "10.40.0.0/16"


def test_sandbox_clouds_of_two_regions_or_two_accounts_do_not_share_resources(tmp_path: Path) -> None:
    cloud_driver(sandbox_account(), sandbox_dir=tmp_path).ensure_network(NETWORK)

    others = [
        sandbox_account(region="eu-central-1"),
        sandbox_account(account_id="210987654321"),
        sandbox_account(provider="azure"),
    ]
    for config in others:
        with pytest.raises(NotFound):
            cloud_driver(config, sandbox_dir=tmp_path).describe_network("orders-net")


def test_account_and_region_names_that_join_alike_still_get_separate_sandbox_clouds(tmp_path: Path) -> None:
    # A flat "<account>-<region>.json" would put these two in one document.
    cloud_driver(sandbox_account(account_id="acme", region="eu-west-1"), sandbox_dir=tmp_path).ensure_network(NETWORK)

    with pytest.raises(NotFound):
        cloud_driver(sandbox_account(account_id="acme-eu", region="west-1"), sandbox_dir=tmp_path).describe_network(
            "orders-net"
        )


def test_an_account_id_with_a_slash_stays_inside_the_sandbox_directory(tmp_path: Path) -> None:
    sandbox_dir = tmp_path / "sandbox"
    driver = cloud_driver(sandbox_account(account_id="../../escape", provider="on_prem"), sandbox_dir=sandbox_dir)

    driver.ensure_network(NETWORK)

    assert not list(tmp_path.glob("*.json"))
    assert all(path.is_relative_to(sandbox_dir) for path in tmp_path.rglob("*.json"))


def test_the_sandbox_latency_keeps_new_resources_creating(tmp_path: Path) -> None:
    slow = cloud_driver(sandbox_account(), sandbox_dir=tmp_path, sandbox_latency_seconds=3600)

    assert slow.ensure_kubernetes_cluster(CLUSTER_SPEC).status == "creating"
    assert cloud_driver(sandbox_account(), sandbox_dir=tmp_path).describe_kubernetes_cluster("eks-orders").status == (
        "available"
    )


def test_a_sandbox_cluster_is_a_sandbox_cluster_driver_whose_state_two_drivers_share(tmp_path: Path) -> None:
    config = cluster(sandbox=True, kubeconfig="")
    web = cluster_driver(config, sandbox_dir=tmp_path)
    worker = cluster_driver(config, sandbox_dir=tmp_path)

    web.ensure_namespace(NamespaceSpec("payments-dev"))

    assert isinstance(worker, SandboxClusterDriver)
    assert [ns["metadata"]["name"] for ns in worker.objects("Namespace")] == ["payments-dev"]


def test_sandbox_clusters_of_the_same_name_in_two_regions_or_providers_are_separate(tmp_path: Path) -> None:
    cluster_driver(cluster(sandbox=True), sandbox_dir=tmp_path).ensure_namespace(NamespaceSpec("payments-dev"))

    for other in (cluster(sandbox=True, region_code="eu-central-1"), cluster(sandbox=True, provider="azure")):
        driver = cluster_driver(other, sandbox_dir=tmp_path)
        assert isinstance(driver, SandboxClusterDriver)
        assert driver.objects("Namespace") == []


def test_sandbox_clouds_and_clusters_never_share_a_document(tmp_path: Path) -> None:
    # A cluster named like a cloud's "<account>-<region>" document must not land on it.
    cloud_driver(sandbox_account(), sandbox_dir=tmp_path).ensure_network(NETWORK)
    cluster_driver(cluster(f"{ACCOUNT}-{REGION}", sandbox=True), sandbox_dir=tmp_path).ensure_namespace(
        NamespaceSpec("payments-dev")
    )

    assert cloud_driver(sandbox_account(), sandbox_dir=tmp_path).describe_network("orders-net").name == "orders-net"


def test_a_sandbox_cluster_still_needs_a_known_access(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="Unknown access 'ssh'"):
        cluster_driver(cluster(sandbox=True, access="ssh"), sandbox_dir=tmp_path)


# --- AWS, through moto ------------------------------------------------------------------


@pytest.fixture
def aws_environment(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The worker's ambient AWS credentials and endpoint, as the SDK reads them from the environment."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60).raise_for_status()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def test_a_live_aws_account_gets_an_aws_driver_that_assumes_its_role_and_works(
    aws_environment: str, tmp_path: Path
) -> None:
    driver = cloud_driver(live_aws_account(), sandbox_dir=tmp_path)

    network = driver.ensure_network(NETWORK)

    assert isinstance(driver, AwsCloudDriver)
    assert driver.credentials.role_arn == f"arn:aws:iam::{ACCOUNT}:role/portal"
    assert driver.credentials.external_id == "portal-test"
    assert driver.region == REGION
    assert network.id.startswith("vpc-")
    assert driver.describe_network("orders-net").id == network.id
    assert not list(tmp_path.iterdir()), "a live account writes nothing to the sandbox"


def test_a_live_azure_subscription_gets_the_azure_driver_for_its_location_signed_in_with_its_secret(
    tmp_path: Path,
) -> None:
    config = AccountConfig(
        provider="azure",
        account_id="9b0f2c61-4d7e-4c1a-8f3e-2a6d5c4b3e21",
        region_code="westeurope",
        auth_method="azure_client_secret",
        sandbox=False,
        tenant_id="5e1d7a90-3c2b-4f8e-9a61-7b4c2d0e8f13",
        client_id="c0ffee00-0000-4000-8000-000000000001",
        client_secret="s3cr3t-from-the-inventory",
    )

    driver = cloud_driver(config, sandbox_dir=tmp_path)

    assert isinstance(driver, AzureCloudDriver)
    assert (driver.subscription_id, driver.location, driver.resource_group) == (
        "9b0f2c61-4d7e-4c1a-8f3e-2a6d5c4b3e21",
        "westeurope",
        "platform-portal-westeurope",
    )
    assert isinstance(driver.credential, ClientSecretCredential)
    assert "s3cr3t" not in repr(driver)


def test_an_eks_cluster_reached_by_cloud_token_gets_moto_s_endpoint_and_an_eks_token(
    aws_environment: str, tmp_path: Path
) -> None:
    aws = cloud_driver(live_aws_account(), sandbox_dir=tmp_path)
    assert isinstance(aws, AwsCloudDriver)
    aws.client("eks").create_cluster(
        name="eks-orders", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks", resourcesVpcConfig={"subnetIds": []}
    )
    endpoint = aws.describe_kubernetes_cluster("eks-orders").endpoint

    driver = cluster_driver(
        cluster("eks-orders", kind="eks", access="cloud_token", account=live_aws_account()), sandbox_dir=tmp_path
    )

    assert isinstance(driver, KubernetesClusterDriver)
    configuration = driver.api_client.configuration
    assert configuration.host == endpoint
    configuration.refresh_api_key_hook(configuration)
    assert configuration.api_key["BearerToken"].startswith("k8s-aws-v1.")


# --- Kubernetes: kubeconfig and cloud tokens, against the fake API server --------------------


def test_a_k3s_kubeconfig_reaches_the_cluster_and_creates_a_namespace(
    tls_cluster_fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    fake = tls_cluster_fake_api
    # The fake API server is on loopback: opened as an administrator opens a centre's private range.
    config = cluster(kubeconfig=fake.kubeconfig(token="k3s-node-token"), private_networks=("127.0.0.1/32",))

    driver = cluster_driver(config, sandbox_dir=tmp_path)
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert isinstance(driver, KubernetesClusterDriver)
    assert [ns["metadata"]["name"] for ns in fake.objects("Namespace")] == ["payments-dev"]
    assert set(authorizations(fake)) == {"Bearer k3s-node-token"}
    assert not list(tmp_path.iterdir())


class SandboxCloudServingTheFake(SandboxCloudDriver):
    """The sandbox cloud, except that its clusters' API endpoint is the fake API server (its own is unreachable)."""

    endpoint = ""

    def describe_kubernetes_cluster(self, name: str) -> KubernetesClusterInfo:
        info = super().describe_kubernetes_cluster(name)
        return dataclasses.replace(info, endpoint=self.endpoint, certificate_authority_data="")


class ScriptedClock:
    """The real time, or the next scripted one when there is one."""

    def __init__(self) -> None:
        self.script: deque[datetime] = deque()

    def __call__(self) -> datetime:
        return self.script.popleft() if self.script else datetime.now(UTC)


def test_a_cloud_token_reaches_the_api_server_and_is_fetched_again_once_it_expires(
    cluster_fake_api: tuple[FakeKubeApi, str], tmp_path: Path
) -> None:
    fake, host = cluster_fake_api
    clock = ScriptedClock()
    cloud = SandboxCloudServingTheFake(tmp_path, account=ACCOUNT, region=REGION, clock=clock)
    cloud.endpoint = host
    cloud.ensure_kubernetes_cluster(CLUSTER_SPEC)
    driver = token_cluster_driver(cloud, "eks-orders")
    # The first token was issued 14.5 minutes ago: it has 30 seconds left, inside the one-minute margin.
    clock.script.append(datetime.now(UTC) - timedelta(minutes=14, seconds=30))

    driver.ensure_namespace(NamespaceSpec("payments-dev"))  # GET, POST
    driver.ensure_namespace(NamespaceSpec("payments-test"))  # GET, POST

    first, second, *rest = authorizations(fake)
    assert first.startswith("Bearer k8s-sandbox-v1.")
    assert second.startswith("Bearer k8s-sandbox-v1.")
    assert first != second, "the expiring token was replaced"
    assert rest == [second, second], "the fresh token is reused while it is valid"
    assert len(fake.objects("Namespace")) == 2


def test_cluster_driver_takes_the_endpoint_and_the_tokens_from_the_account_s_cloud(tmp_path: Path) -> None:
    account = sandbox_account()
    cloud = cloud_driver(account, sandbox_dir=tmp_path)
    cloud.ensure_kubernetes_cluster(CLUSTER_SPEC)
    config = cluster("eks-orders", kind="eks", access="cloud_token", account=account)

    driver = cluster_driver(config, sandbox_dir=tmp_path)

    assert isinstance(driver, KubernetesClusterDriver)
    configuration = driver.api_client.configuration
    assert configuration.host == cloud.describe_kubernetes_cluster("eks-orders").endpoint
    configuration.refresh_api_key_hook(configuration)
    assert configuration.api_key["BearerToken"].startswith("k8s-sandbox-v1.")


def test_a_cluster_the_cloud_has_not_given_an_endpoint_yet_is_a_conflict(tmp_path: Path) -> None:
    cloud = SandboxCloudServingTheFake(tmp_path, account=ACCOUNT, region=REGION)
    cloud.ensure_kubernetes_cluster(CLUSTER_SPEC)

    with pytest.raises(Conflict, match="no API endpoint yet"):
        token_cluster_driver(cloud, "eks-orders")


def test_a_cluster_the_cloud_does_not_know_is_not_found(tmp_path: Path) -> None:
    config = cluster("eks-missing", kind="eks", access="cloud_token", account=sandbox_account())

    with pytest.raises(NotFound):
        cluster_driver(config, sandbox_dir=tmp_path)


# --- configurations nothing can serve --------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (live_aws_account(region=""), "needs a region"),
        (sandbox_account(region=""), "needs a region"),
        (dataclasses.replace(live_aws_account(), provider="gcp"), "No cloud driver for the provider 'gcp'"),
        (dataclasses.replace(live_aws_account(), provider="on_prem"), "on-prem site has no cloud API"),
        (live_aws_account(auth_method="azure_managed_identity"), "cannot be reached with 'azure_managed_identity'"),
        (live_aws_account(role_arn=""), "has no role to assume"),
    ],
    ids=["no-region", "sandbox-no-region", "unknown-provider", "on-prem", "wrong-auth-method", "no-role"],
)
def test_a_cloud_configuration_no_driver_serves_is_an_invalid_request(
    config: AccountConfig, message: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        cloud_driver(config, sandbox_dir=tmp_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (cluster(access="ssh"), "Unknown access 'ssh'"),
        (cluster(access="kubeconfig", kubeconfig=""), "none is stored"),
        (cluster(kubeconfig="clusters: [oops"), "not valid YAML"),
        (cluster(kind="eks", access="cloud_token", account=None), "has no cloud account"),
        (cluster(kind="eks", access="cloud_token", account=live_aws_account(provider="gcp")), "provider 'gcp'"),
    ],
    ids=["unknown-access", "no-kubeconfig", "bad-kubeconfig", "token-without-account", "token-unknown-provider"],
)
def test_a_cluster_configuration_no_driver_serves_is_an_invalid_request(
    config: ClusterConfig, message: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        cluster_driver(config, sandbox_dir=tmp_path)


def test_in_cluster_access_outside_a_pod_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)

    with pytest.raises(InvalidRequest, match="does not run in a Kubernetes pod"):
        cluster_driver(cluster(access="in_cluster", kubeconfig=""), sandbox_dir=tmp_path)


def test_a_configuration_error_never_shows_the_kubeconfig(tmp_path: Path) -> None:
    secret = "token: super-secret-kubeconfig-token"

    with pytest.raises(InvalidRequest) as error:
        cluster_driver(cluster(kubeconfig=f"users: [{secret}"), sandbox_dir=tmp_path)

    assert "super-secret" not in str(error.value)
    assert "super-secret" not in repr(cluster(kubeconfig=secret))
