"""What only the Kubernetes driver does: building a client, bearer tokens, races and API errors on the wire."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from providers.cluster import NGINX, IngressSpec, NamespaceSpec, ResourceQuotaSpec
from providers.cluster_base import REVISION_ANNOTATION as REVISION
from providers.errors import (
    Busy,
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


# --- what the API server refuses, through the official client ---------------------------------------


def api_client(host: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = host
    return client.ApiClient(configuration)


def core_api(host: str) -> Any:
    """The typed core API; bodies are plain dicts here, as the driver sends them."""
    return client.CoreV1Api(api_client(host))


def raw_call(host: str, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
    """A request the typed methods would refuse to build (they check bodies against the models first)."""
    api = api_client(host)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    method, url, headers, body, _ = api.param_serialize(method, path, header_params=headers, body=body)
    response = api.call_api(method, url, header_params=headers, body=body)
    response.read()
    return api.response_deserialize(response, {"2XX": "object"}).data  # raises ApiException for errors


def driver_for(host: str, **options: Any) -> KubernetesClusterDriver:
    configuration = client.Configuration()
    configuration.host = host
    return KubernetesClusterDriver(configuration, retry_policy=FAST, sleep=lambda _: None, **options)


def status_of(error: ApiException) -> tuple[int, str, str]:
    body = json.loads(error.body or "{}")
    return int(error.status), body["reason"], body["message"]


def test_every_write_changes_the_resource_version_and_a_stale_one_is_a_409_conflict(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    _, host = cluster_fake_api
    core = core_api(host)
    created = core.create_namespace({"metadata": {"name": "payments-dev"}})
    patched = core.patch_namespace("payments-dev", {"metadata": {"labels": {"team": "payments"}}})
    stale = created.metadata.resource_version
    assert patched.metadata.resource_version != stale

    for write in (
        lambda: core.patch_namespace("payments-dev", {"metadata": {"resourceVersion": stale, "labels": {"a": "b"}}}),
        lambda: core.replace_namespace(
            "payments-dev", {"metadata": {"name": "payments-dev", "resourceVersion": stale}}
        ),
    ):
        with pytest.raises(ApiException) as refused:
            write()
        code, reason, message = status_of(refused.value)
        assert (code, reason) == (409, "Conflict")
        assert "the object has been modified" in message

    current = patched.metadata.resource_version
    assert core.patch_namespace("payments-dev", {"metadata": {"resourceVersion": current, "labels": {"a": "b"}}})


def test_an_ingress_changed_between_read_and_patch_is_read_again_so_no_unwanted_annotation_survives(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    driver = driver_for(host)
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    driver.ensure_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80, rate_limit_rps=20))

    def someone_else_writes(method: str, path: str) -> None:
        if method == "PATCH":
            fake.on_request = None
            ingress = fake.objects("Ingress")[0]
            ingress["metadata"]["annotations"][f"{NGINX}/whitelist-source-range"] = "10.0.0.0/8"
            fake.put(ingress)

    fake.on_request = someone_else_writes
    applied = driver.ensure_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80))

    assert applied.updated
    assert fake.objects("Ingress")[0]["metadata"]["annotations"] == {}
    assert [method for method, _, _ in fake.requests[-4:]] == ["GET", "PATCH", "GET", "PATCH"]


def test_a_rollback_racing_another_writer_still_leaves_exactly_the_old_template(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})
    template = {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:1.1"}]}}
    fake.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "payments-dev", "annotations": {REVISION: "2"}},
            "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
        }
    )
    for revision, image in ((1, "api:1.0"), (2, "api:1.1")):
        fake.put(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"api-{revision}",
                    "namespace": "payments-dev",
                    "annotations": {REVISION: str(revision)},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "u"}],
                },
                "spec": {
                    "selector": {"matchLabels": {"app": "api"}},
                    "template": {**template, "spec": {"containers": [{"name": "api", "image": image}]}},
                },
            }
        )

    def someone_adds_a_volume(method: str, path: str) -> None:
        if method == "PATCH":
            fake.on_request = None
            deployment = fake.objects("Deployment")[0]
            deployment["spec"]["template"]["spec"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
            fake.put(deployment)

    fake.on_request = someone_adds_a_volume
    driver_for(host).rollback_workload("Deployment", "payments-dev", "api")

    rolled_back = fake.objects("Deployment")[0]["spec"]["template"]
    assert rolled_back == {**template, "spec": {"containers": [{"name": "api", "image": "api:1.0"}]}}


def test_an_object_that_changes_before_every_patch_is_busy_after_bounded_tries(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    driver = driver_for(host)
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    def always_someone_first(method: str, path: str) -> None:
        if method == "PATCH":
            fake.put(fake.objects("Namespace")[0])

    fake.on_request = always_someone_first
    with pytest.raises(Busy):
        driver.ensure_namespace(NamespaceSpec("payments-dev", {"team": "payments"}))

    assert 1 < [method for method, _, _ in fake.requests].count("PATCH") <= 5


def namespace_held_by_a_finalizer(fake: FakeKubeApi) -> None:
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "api-1", "namespace": "payments-dev", "finalizers": ["example.com/drain"]},
            "spec": {"containers": [{"name": "api", "image": "api:1"}]},
        }
    )


def test_deleting_a_namespace_waits_while_it_terminates_and_finishes_once_it_is_gone(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    namespace_held_by_a_finalizer(fake)
    driver = driver_for(host)

    with pytest.raises(Busy):
        driver.delete_namespace("payments-dev")
    namespace = fake.objects("Namespace")[0]
    assert namespace["status"]["phase"] == "Terminating"
    assert namespace["metadata"]["deletionTimestamp"]
    with pytest.raises(Busy):
        driver.delete_namespace("payments-dev")  # the API answers 409: content is still being removed

    fake.release_finalizers("Pod", "payments-dev", "api-1")
    driver.delete_namespace("payments-dev")

    assert fake.objects("Namespace") == []
    assert fake.objects("Pod") == []


def test_ensuring_into_a_terminating_namespace_waits_instead_of_failing(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    namespace_held_by_a_finalizer(fake)
    driver = driver_for(host)
    with pytest.raises(Busy):
        driver.delete_namespace("payments-dev")

    with pytest.raises(Busy):
        driver.ensure_namespace(NamespaceSpec("payments-dev"))
    with pytest.raises(Busy):
        driver.ensure_resource_quota(ResourceQuotaSpec("payments-dev", {"pods": "10"}))

    fake.release_finalizers("Pod", "payments-dev", "api-1")
    assert driver.ensure_namespace(NamespaceSpec("payments-dev")).created


def test_the_api_refuses_new_content_and_a_new_namespace_while_one_terminates(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    namespace_held_by_a_finalizer(fake)
    core = core_api(host)
    core.delete_namespace("payments-dev")

    with pytest.raises(ApiException) as forbidden:
        core.create_namespaced_resource_quota("payments-dev", {"metadata": {"name": "q"}, "spec": {"hard": {}}})
    with pytest.raises(ApiException) as exists:
        core.create_namespace({"metadata": {"name": "payments-dev"}})

    assert status_of(forbidden.value) == (
        403,
        "Forbidden",
        'resourcequotas "q" is forbidden: unable to create new content in namespace payments-dev '
        "because it is being terminated",
    )
    assert status_of(exists.value)[:2] == (409, "AlreadyExists")
    assert core.read_namespace("payments-dev").status.phase == "Terminating"


@pytest.mark.parametrize(
    ("seeded", "patch", "field"),
    [
        (
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "payments-dev"},
                "spec": {
                    "selector": {"matchLabels": {"app": "api"}},
                    "template": {
                        "metadata": {"labels": {"app": "api"}},
                        "spec": {"containers": [{"name": "api", "image": "api:1"}]},
                    },
                },
            },
            {"spec": {"selector": {"matchLabels": {"app": "web"}}}},
            "spec.selector",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "api", "namespace": "payments-dev"},
                "spec": {"clusterIP": "10.43.0.10", "ports": [{"port": 80}]},
            },
            {"spec": {"clusterIP": "10.43.0.11"}},
            "spec.clusterIP",
        ),
        (
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "migrate", "namespace": "payments-dev"},
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "migrate:1"}]}
                    }
                },
            },
            {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "migrate:2"}]}}}},
            "spec.template",
        ),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "devs", "namespace": "payments-dev"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            },
            {"roleRef": {"name": "view"}},
            "roleRef",
        ),
    ],
)
def test_changing_an_immutable_field_is_a_422_invalid(
    cluster_fake_api: tuple[FakeKubeApi, str], seeded: dict[str, Any], patch: dict[str, Any], field: str
) -> None:
    fake, host = cluster_fake_api
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})
    fake.put(seeded)
    plural = {"Deployment": "deployments", "Service": "services", "Job": "jobs", "RoleBinding": "rolebindings"}
    prefix = "/api/v1" if seeded["apiVersion"] == "v1" else f"/apis/{seeded['apiVersion']}"
    path = f"{prefix}/namespaces/payments-dev/{plural[seeded['kind']]}/{seeded['metadata']['name']}"

    with pytest.raises(ApiException) as refused:
        raw_call(host, "PATCH", path, patch, "application/merge-patch+json")

    code, reason, message = status_of(refused.value)
    assert (code, reason) == (422, "Invalid")
    assert f"{field}: Invalid value" in message


def test_a_patch_that_renames_an_object_is_refused(cluster_fake_api: tuple[FakeKubeApi, str]) -> None:
    _, host = cluster_fake_api
    core = core_api(host)
    core.create_namespace({"metadata": {"name": "payments-dev"}})

    with pytest.raises(ApiException) as refused:
        core.patch_namespace("payments-dev", {"metadata": {"name": "payments-prod"}})

    assert status_of(refused.value)[:2] == (400, "BadRequest")


def test_lists_are_read_in_pages_until_the_continue_token_runs_out(cluster_fake_api: tuple[FakeKubeApi, str]) -> None:
    fake, host = cluster_fake_api
    fake.max_page_size = 2  # the server returns fewer than asked, as it may
    names = [f"team-{index}" for index in range(5)]
    for name in names:
        fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    fake.install(
        "argoproj.io/v1alpha1",
        "applications",
        "Application",
        [{"metadata": {"name": f"app-{index}", "namespace": "argocd"}} for index in range(3)],
    )
    driver = driver_for(host, page_size=100)

    assert [namespace.name for namespace in driver.list_namespaces()] == names
    assert len(driver.list_custom_resources("argoproj.io", "v1alpha1", "applications")) == 3
    lists = [urlsplit(path) for method, path, _ in fake.requests if method == "GET"]
    assert all(parse_qs(url.query).get("limit") == ["100"] for url in lists)
    assert sum(1 for url in lists if url.path == "/api/v1/namespaces") == 3


def test_a_list_whose_continue_token_expired_starts_again(cluster_fake_api: tuple[FakeKubeApi, str]) -> None:
    fake, host = cluster_fake_api
    fake.max_page_size = 2
    names = [f"team-{index}" for index in range(5)]
    for name in names:
        fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def compaction(method: str, path: str) -> None:
        if "continue=" in path:
            fake.on_request = None
            fake.expire_continue_tokens()

    fake.on_request = compaction
    assert [namespace.name for namespace in driver_for(host).list_namespaces()] == names

    first = core_api(host).list_namespace(limit=2)
    fake.expire_continue_tokens()
    with pytest.raises(ApiException) as expired:
        core_api(host).list_namespace(limit=2, _continue=first.metadata._continue)
    assert status_of(expired.value)[:2] == (410, "Expired")


def test_an_aggregated_api_that_is_down_is_unavailable_not_missing(cluster_fake_api: tuple[FakeKubeApi, str]) -> None:
    fake, host = cluster_fake_api
    fake.put_pod_metrics("payments-dev", "api-1", {"api": {"cpu": "1000000n", "memory": "1Ki"}})
    fake.install("argoproj.io/v1alpha1", "applications", "Application")
    fake.unavailable |= {"metrics.k8s.io/v1beta1", "argoproj.io/v1alpha1"}
    sleeps: list[float] = []
    configuration = client.Configuration()
    configuration.host = host
    driver = KubernetesClusterDriver(configuration, retry_policy=FAST, sleep=sleeps.append)

    with pytest.raises(ApiException) as discovery:
        raw_call(host, "GET", "/apis/metrics.k8s.io/v1beta1")
    with pytest.raises(Unavailable):
        driver.namespace_usage()
    with pytest.raises(Unavailable):
        driver.list_custom_resources("argoproj.io", "v1alpha1", "applications")

    assert discovery.value.status == 503
    assert len(sleeps) == 4  # retried, as a transient fault is
    fake.unavailable.clear()
    usage = driver.namespace_usage()
    assert [(u.namespace, u.cpu_usage) for u in usage] == [("payments-dev", Decimal("0.001"))]


def test_a_manifest_that_fails_the_openapi_schema_is_refused_with_422(
    cluster_fake_api: tuple[FakeKubeApi, str],
) -> None:
    fake, host = cluster_fake_api
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})
    limits = {"metadata": {"name": "limits"}, "spec": {"limits": [{"type": "Container", "defaultRequests": {}}]}}

    with pytest.raises(ApiException) as refused:
        raw_call(host, "POST", "/api/v1/namespaces/payments-dev/limitranges", limits)

    code, reason, message = status_of(refused.value)
    assert (code, reason) == (422, "Invalid")
    assert "'defaultRequests' was unexpected" in message
    assert fake.objects("LimitRange") == []
