"""Cluster fixtures: one harness per cluster driver implementation, so the contract suite runs against both.

A harness gives the driver under test and a back door into its backend (the
sandbox's JSON document, the fake API server's store) to seed objects a
controller would have written, inspect what the driver wrote, install CRDs
and inject faults, with the same calls for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from kubernetes import client

from providers.cluster_base import ManifestClusterDriver
from providers.errors import InvalidRequest, PermissionDenied, ProviderError, Throttled, Unavailable
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from providers.sandbox.cluster import SandboxClusterDriver
from tests.providers.kube_fake import FakeKubeApi

Fault = Literal["throttled", "unavailable", "forbidden", "invalid"]
RETRY_AFTER = 2.0
STATUS_OF: dict[Fault, int] = {"throttled": 429, "unavailable": 503, "forbidden": 403, "invalid": 422}


class ClusterHarness:
    """A driver under test plus direct access to what it talks to."""

    driver: ManifestClusterDriver
    sleeps: list[float]

    def seed(self, manifest: dict[str, Any]) -> None:
        """Write an object directly, as a controller or another tool would."""
        raise NotImplementedError

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """What the backend holds of ``kind``."""
        raise NotImplementedError

    def install(self, api_version: str, plural: str, kind: str, items: Iterable[dict[str, Any]] = ()) -> None:
        """Install a CRD or metrics-server, with these objects."""
        raise NotImplementedError

    def log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        """What a container logged (``previous``: its instance before the last restart), as the kubelet keeps it."""
        raise NotImplementedError

    def fail_next(self, operation: str, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` tries of ``operation`` fail with ``fault``."""
        raise NotImplementedError


class SandboxHarness(ClusterHarness):
    """The sandbox driver over a JSON document in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.sleeps = []
        self.sandbox = SandboxClusterDriver(
            directory, "contract", retry_policy=RetryPolicy(attempts=3, base_seconds=0.01), sleep=self.sleeps.append
        )
        self.driver = self.sandbox

    def seed(self, manifest: dict[str, Any]) -> None:
        self.sandbox.seed(manifest)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.sandbox.objects(kind, namespace)

    def install(self, api_version: str, plural: str, kind: str, items: Iterable[dict[str, Any]] = ()) -> None:
        group, version = api_version.split("/")
        self.sandbox.install(group, version, plural, [{"apiVersion": api_version, "kind": kind, **i} for i in items])

    def log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        self.sandbox.seed_logs([(namespace, pod, container, text, previous)])

    def fail_next(self, operation: str, fault: Fault, times: int = 1) -> None:
        errors: dict[Fault, ProviderError] = {
            "throttled": Throttled("sandbox: slow down", retry_after=RETRY_AFTER),
            "unavailable": Unavailable("sandbox: try again"),
            "forbidden": PermissionDenied("sandbox: forbidden"),
            "invalid": InvalidRequest("sandbox: invalid"),
        }
        self.sandbox.faults.setdefault(operation, []).extend([errors[fault]] * times)


class KubernetesHarness(ClusterHarness):
    """The Kubernetes driver, through the official client, against the fake API server."""

    def __init__(self, fake: FakeKubeApi, host: str) -> None:
        self.sleeps = []
        self.fake = fake
        configuration = client.Configuration()
        configuration.host = host
        self.driver = KubernetesClusterDriver(
            configuration, retry_policy=RetryPolicy(attempts=3, base_seconds=0.01), sleep=self.sleeps.append
        )

    def seed(self, manifest: dict[str, Any]) -> None:
        self.fake.put(manifest)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.fake.objects(kind, namespace)

    def install(self, api_version: str, plural: str, kind: str, items: Iterable[dict[str, Any]] = ()) -> None:
        self.fake.install(api_version, plural, kind, items)

    def log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        self.fake.put_log(namespace, pod, container, text, previous=previous)

    def fail_next(self, operation: str, fault: Fault, times: int = 1) -> None:
        # Every try of an operation starts with one request, so failing the next requests fails the next tries.
        self.fake.fail_next(STATUS_OF[fault], times, RETRY_AFTER if fault == "throttled" else None)


@pytest.fixture
def cluster_fake_api() -> Iterator[tuple[FakeKubeApi, str]]:
    """A fake Kubernetes API server on loopback, and its URL."""
    fake = FakeKubeApi()
    host = fake.start()
    yield fake, host
    fake.stop()


@pytest.fixture
def tls_cluster_fake_api() -> Iterator[FakeKubeApi]:
    """A fake Kubernetes API server on loopback speaking HTTPS, as a kubeconfig's server must (``fake.url``)."""
    fake = FakeKubeApi()
    fake.start(tls=True)
    yield fake
    fake.stop()


@pytest.fixture(params=["sandbox", "kubernetes"])
def cluster_harness(request: pytest.FixtureRequest, tmp_path: Path) -> ClusterHarness:
    """Each cluster driver in turn, with its backend's back door."""
    if request.param == "sandbox":
        return SandboxHarness(tmp_path / "clusters")
    fake, host = request.getfixturevalue("cluster_fake_api")
    return KubernetesHarness(fake, host)
