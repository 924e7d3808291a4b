"""The Kubernetes driver built from a kubeconfig connects only where the outbound rules allow, on every connection.

The fake API server listens on loopback and is reachable: only the rules
stop the driver, and the fake's request log proves that nothing was sent
(not even the bearer token).
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
import yaml

from providers import outbound
from providers.cluster import NamespaceSpec
from providers.config import ClusterConfig
from providers.errors import InvalidRequest
from providers.factory import cluster_driver
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from tests.outbound_servers import StubResolver
from tests.providers.kube_fake import FakeKubeApi

FAST = RetryPolicy(attempts=3, base_seconds=0.0)
PUBLIC = "93.184.215.14"  # resolved to, never connected to


def k3s(**changes: object) -> ClusterConfig:
    config = ClusterConfig(
        name="k3s-dublin",
        kind="k3s",
        api_endpoint="https://dublin.centres.internal:6443",
        kubernetes_version="1.31",
        region_code="eu-west-1",
        sandbox=False,
        account=None,
        provider="on_prem",
        access="kubeconfig",
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def test_a_stored_kubeconfig_pointing_at_loopback_is_refused_and_the_server_never_hears_of_it(
    tls_cluster_fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    fake = tls_cluster_fake_api

    with pytest.raises(InvalidRequest, match=r"127\.0\.0\.1 is a loopback address.*PORTAL_CLUSTER_PRIVATE_NETWORKS"):
        cluster_driver(k3s(kubeconfig=fake.kubeconfig(token="k3s-token")), sandbox_dir=tmp_path)

    assert fake.requests == []


def test_a_range_an_administrator_opened_is_reached_over_https_with_the_token(
    tls_cluster_fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    fake = tls_cluster_fake_api
    config = k3s(kubeconfig=fake.kubeconfig(token="k3s-token"), private_networks=("127.0.0.0/8",))

    cluster_driver(config, sandbox_dir=tmp_path).ensure_namespace(NamespaceSpec("payments-dev"))

    assert {authorization for _, _, authorization in fake.requests} == {"Bearer k3s-token"}


def test_a_server_name_that_resolves_privately_when_connecting_is_refused_without_retrying(
    tls_cluster_fake_api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tls_cluster_fake_api
    port = fake.url.rsplit(":", 1)[1]
    # Public when the driver is built, loopback (the fake) when it connects: DNS rebinding.
    resolver = StubResolver({"k3s.centre.example": [[PUBLIC], ["127.0.0.1"]]})
    monkeypatch.setattr(outbound, "system_resolver", resolver)
    opened: list[str] = []

    def never(address: outbound.IPAddress, port: int, timeout: float | None) -> socket.socket:
        opened.append(str(address))
        raise AssertionError("the driver opened a connection")

    monkeypatch.setattr(outbound, "open_connection", never)
    document = yaml.safe_load(fake.kubeconfig(token="k3s-token"))
    document["clusters"][0]["cluster"]["server"] = f"https://k3s.centre.example:{port}"
    driver = cluster_driver(k3s(kubeconfig=yaml.safe_dump(document)), sandbox_dir=tmp_path)
    assert isinstance(driver, KubernetesClusterDriver)
    driver.retry_policy = FAST

    with pytest.raises(InvalidRequest, match=r"k3s\.centre\.example resolves to 127\.0\.0\.1, which is a loopback"):
        driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert opened == []
    assert fake.requests == []
    assert resolver.lookups == ["k3s.centre.example", "k3s.centre.example"]  # once built, once connecting (refused)


def test_the_driver_refuses_plain_http_even_when_handed_a_kubeconfig_nobody_checked(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api  # plain http on loopback
    kubeconfig = {
        "clusters": [{"name": "k3s", "cluster": {"server": host}}],
        "users": [{"name": "admin", "user": {"token": "k3s-token"}}],
        "contexts": [{"name": "default", "context": {"cluster": "k3s", "user": "admin"}}],
        "current-context": "default",
    }
    loopback_opened = outbound.OutboundPolicy(private_networks=outbound.parse_networks(["127.0.0.1/32"]))
    driver = KubernetesClusterDriver.from_kubeconfig(kubeconfig, retry_policy=FAST, outbound_policy=loopback_opened)

    with pytest.raises(InvalidRequest, match=r"https only"):
        driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert fake.requests == []
