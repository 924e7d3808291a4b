"""What only the Kubernetes driver does: building a client, bearer tokens, races and API errors on the wire."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from providers.cluster import NamespaceSpec
from providers.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    Throttled,
    Unavailable,
)
from providers.kubernetes.driver import BearerToken, KubernetesClusterDriver, translate
from providers.outbound import OutboundPolicy, parse_networks
from providers.retry import RetryPolicy
from tests.providers.kube_fake import FakeKubeApi

FAST = RetryPolicy(attempts=3, base_seconds=0.001)
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def authorizations(fake: FakeKubeApi) -> list[str]:
    return [authorization for _, _, authorization in fake.requests]


def test_a_token_driver_sends_the_bearer_token_and_fetches_it_once_while_it_is_valid(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    calls: list[int] = []

    def token() -> BearerToken:
        calls.append(1)
        return BearerToken(f"token-{len(calls)}", datetime.now(UTC) + timedelta(minutes=15))

    driver = KubernetesClusterDriver.from_token(host, token, retry_policy=FAST)
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    driver.list_workloads()

    assert len(calls) == 1
    assert set(authorizations(fake)) == {"Bearer token-1"}


def test_a_token_about_to_expire_is_fetched_again_before_the_next_request(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    issued: list[str] = []

    def token() -> BearerToken:
        issued.append(f"token-{len(issued) + 1}")
        return BearerToken(issued[-1], datetime.now(UTC) + timedelta(seconds=30))  # inside the one-minute margin

    driver = KubernetesClusterDriver.from_token(host, token, retry_policy=FAST)
    driver.delete_namespace("a")
    driver.delete_namespace("b")

    assert authorizations(fake) == ["Bearer token-1", "Bearer token-2"]


def test_a_plain_string_token_is_accepted(cluster_fake_api: tuple[FakeKubeApi, str]) -> None:
    fake, host = cluster_fake_api

    KubernetesClusterDriver.from_token(host, lambda: "static", retry_policy=FAST).delete_namespace("a")

    assert authorizations(fake) == ["Bearer static"]


def test_base64_ca_data_is_written_as_pem_for_tls_verification() -> None:
    driver = KubernetesClusterDriver.from_token(
        "https://eks.example:443", lambda: "t", ca_data=base64.b64encode(CA_PEM).decode()
    )

    assert Path(driver.api_client.configuration.ssl_ca_cert).read_bytes() == CA_PEM


def test_drivers_built_for_the_same_ca_share_one_private_file_instead_of_leaving_one_each() -> None:
    first, second = (
        KubernetesClusterDriver.from_token("https://eks.example:443", lambda: "t", ca_data=CA_PEM.decode())
        for _ in range(2)
    )
    other = KubernetesClusterDriver.from_token("https://aks.example:443", lambda: "t", ca_data=CA_PEM + b"\n")

    ca_file = Path(first.api_client.configuration.ssl_ca_cert)
    assert Path(second.api_client.configuration.ssl_ca_cert) == ca_file
    assert Path(other.api_client.configuration.ssl_ca_cert) != ca_file
    assert ca_file.parent.stat().st_mode & 0o077 == 0, "the CA directory is private to the portal's user"


def test_a_kubeconfig_dict_points_the_driver_at_its_cluster_and_user(tls_cluster_fake_api: FakeKubeApi) -> None:
    fake = tls_cluster_fake_api
    authority = base64.b64encode(fake.ca_pem).decode()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k3s", "cluster": {"server": fake.url, "certificate-authority-data": authority}}],
        "users": [{"name": "admin", "user": {"token": "k3s-token"}}],
        "contexts": [{"name": "default", "context": {"cluster": "k3s", "user": "admin"}}],
        "current-context": "default",
    }

    loopback_opened = OutboundPolicy(private_networks=parse_networks(["127.0.0.1/32"]))
    driver = KubernetesClusterDriver.from_kubeconfig(kubeconfig, retry_policy=FAST, outbound_policy=loopback_opened)
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert len(fake.objects("Namespace")) == 1
    assert set(authorizations(fake)) == {"Bearer k3s-token"}


def test_a_namespace_created_by_someone_else_between_look_and_create_counts_as_success(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api

    def race(method: str, path: str) -> None:
        if method == "POST":
            fake.on_request = None
            fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})

    fake.on_request = race
    configuration = client.Configuration()
    configuration.host = host

    applied = KubernetesClusterDriver(configuration, retry_policy=FAST).ensure_namespace(NamespaceSpec("payments-dev"))

    assert not applied.created
    assert applied.updated  # the other creator's namespace lacked our labels
    assert [method for method, _, _ in fake.requests] == ["GET", "POST", "GET", "PATCH"]
    assert len(fake.objects("Namespace")) == 1


def test_an_unreachable_api_server_is_unavailable_after_bounded_retries() -> None:
    sleeps: list[float] = []
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens

    driver = KubernetesClusterDriver(configuration, retry_policy=FAST, sleep=sleeps.append, timeout_seconds=2)

    with pytest.raises(Unavailable):
        driver.ensure_namespace(NamespaceSpec("payments-dev"))
    assert len(sleeps) == 2


def api_error(status: int, message: str = "", retry_after: str | None = None) -> ApiException:
    error = ApiException(status=status, reason="reason")
    error.body = f'{{"kind": "Status", "message": "{message}"}}'
    error.headers = {"Retry-After": retry_after} if retry_after else {}
    return error


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (404, "not found", NotFound),
        (409, "already exists", Conflict),
        (403, "forbidden", PermissionDenied),
        (403, "exceeded quota: portal-quota, requested: pods=1", QuotaExceeded),
        (401, "Unauthorized", PermissionDenied),
        (400, "bad request", InvalidRequest),
        (422, "invalid", InvalidRequest),
        (429, "slow down", Throttled),
        (500, "internal", Unavailable),
        (503, "unavailable", Unavailable),
    ],
)
def test_api_statuses_translate_to_typed_errors(status: int, message: str, expected: type[ProviderError]) -> None:
    error = translate(api_error(status, message), "payments-dev")

    assert type(error) is expected
    assert message in error.message
    assert error.resource == "payments-dev"


def test_a_retry_after_header_becomes_the_errors_hint() -> None:
    assert translate(api_error(429, "slow down", retry_after="7")).retry_after == 7.0
