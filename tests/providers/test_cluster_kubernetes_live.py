"""A workload's pods, events and logs through the official client, on the wire: what the driver sends, what the
API server refuses (the fake enforces the documented rules), and how refusals become the driver's errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from providers.cluster import LOG_LIMIT_BYTES, POD_LIMIT
from providers.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from tests.providers import live_objects
from tests.providers.kube_fake import FAKE_USER, FakeKubeApi

FAST = RetryPolicy(attempts=3, base_seconds=0.001)
Fake = tuple[FakeKubeApi, str]


def driver_for(host: str, **options: Any) -> KubernetesClusterDriver:
    configuration = client.Configuration()
    configuration.host = host
    return KubernetesClusterDriver(configuration, retry_policy=FAST, sleep=lambda _: None, **options)


def core_api(host: str) -> Any:
    configuration = client.Configuration()
    configuration.host = host
    return client.CoreV1Api(client.ApiClient(configuration))


def status_of(error: ApiException) -> tuple[int, str, str]:
    body = json.loads(error.body or "{}")
    return int(error.status), body["reason"], body["message"]


def requests_to(fake: FakeKubeApi, suffix: str) -> list[dict[str, list[str]]]:
    """The query of every GET whose path ends with ``suffix``."""
    return [
        parse_qs(urlsplit(path).query)
        for method, path, _ in fake.requests
        if method == "GET" and urlsplit(path).path.endswith(suffix)
    ]


def api_with_pods(fake: FakeKubeApi, count: int = 3, containers: tuple[str, ...] = ("api",)) -> None:
    fake.put(live_objects.namespace("payments-dev"))
    fake.put(live_objects.deployment("payments-dev", "api"))
    for number in range(count):
        fake.put(live_objects.pod("payments-dev", f"api-5d8f-{number:03d}", {"app": "api"}, containers=containers))
    fake.put(live_objects.pod("payments-dev", "web-0", {"app": "web"}))


# --- pods ------------------------------------------------------------------------------------------


def test_the_driver_asks_the_api_server_for_the_workloads_pods_by_selector_and_bounded(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake)

    found = driver_for(host).workload_pods("Deployment", "payments-dev", "api")

    assert [pod.name for pod in found.pods] == ["api-5d8f-000", "api-5d8f-001", "api-5d8f-002"]
    (query,) = requests_to(fake, "/namespaces/payments-dev/pods")
    assert query == {"labelSelector": ["app=api"], "limit": [str(POD_LIMIT)]}


def test_a_namespace_of_thousands_of_pods_is_never_read_whole(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=120)
    fake.max_page_size = 20  # the server sends fewer than asked, as it may

    found = driver_for(host).workload_pods("Deployment", "payments-dev", "api")

    assert len(found.pods) == POD_LIMIT
    assert found.truncated
    limits = [int(query["limit"][0]) for query in requests_to(fake, "/namespaces/payments-dev/pods")]
    assert limits == [50, 30, 10]  # never more than what is still missing, and three pages, not six
    assert all(q["labelSelector"] == ["app=api"] for q in requests_to(fake, "/namespaces/payments-dev/pods"))


def test_one_pod_of_the_workload_is_asked_for_by_name_and_selector(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake)

    driver_for(host).workload_pods("Deployment", "payments-dev", "api", only="api-5d8f-001")

    (query,) = requests_to(fake, "/namespaces/payments-dev/pods")
    assert query == {"labelSelector": ["app=api"], "fieldSelector": ["metadata.name=api-5d8f-001"], "limit": ["1"]}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=api", ["api-5d8f-000", "api-5d8f-001"]),
        ("app==api,track!=canary", ["api-5d8f-000"]),
        ("track in (canary, stable)", ["api-5d8f-000", "api-5d8f-001"]),
        ("track notin (canary)", ["api-5d8f-000", "web-0"]),
        ("!track", ["web-0"]),
        ("track", ["api-5d8f-000", "api-5d8f-001"]),
    ],
)
def test_the_fake_api_server_selects_by_label_as_kubernetes_does(
    cluster_fake_api: Fake, selector: str, expected: list[str]
) -> None:
    fake, host = cluster_fake_api
    fake.put(live_objects.namespace("payments-dev"))
    fake.put(live_objects.pod("payments-dev", "api-5d8f-000", {"app": "api", "track": "stable"}))
    fake.put(live_objects.pod("payments-dev", "api-5d8f-001", {"app": "api", "track": "canary"}))
    fake.put(live_objects.pod("payments-dev", "web-0", {"app": "web"}))

    pods = core_api(host).list_namespaced_pod("payments-dev", label_selector=selector)

    assert [pod.metadata.name for pod in pods.items] == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda api: api.list_namespaced_pod("payments-dev", label_selector="app in (a"), "unable to parse"),
        (lambda api: api.list_namespaced_pod("payments-dev", field_selector="spec.containers=x"), "not supported"),
        (lambda api: api.list_namespaced_event("payments-dev", field_selector="message=boom"), "not supported"),
    ],
)
def test_a_selector_the_api_server_cannot_serve_is_a_400(cluster_fake_api: Fake, call: Any, message: str) -> None:
    fake, host = cluster_fake_api
    fake.put(live_objects.namespace("payments-dev"))

    with pytest.raises(ApiException) as refused:
        call(core_api(host))

    code, reason, text = status_of(refused.value)
    assert (code, reason) == (400, "BadRequest")
    assert message in text


# --- events ----------------------------------------------------------------------------------------


def test_events_are_asked_for_object_by_object_with_the_field_selector_events_serve(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)
    fake.put(live_objects.event("payments-dev", "Pod", "api-5d8f-000", "BackOff", warning=True))
    fake.put(live_objects.event("payments-dev", "Pod", "web-0", "BackOff", warning=True))

    events = driver_for(host).events("payments-dev", [("Deployment", "api"), ("Pod", "api-5d8f-000")])

    assert [(event.involved_name, event.reason) for event in events] == [("api-5d8f-000", "BackOff")]
    queries = requests_to(fake, "/namespaces/payments-dev/events")
    assert [query["fieldSelector"] for query in queries] == [
        ["involvedObject.kind=Deployment,involvedObject.name=api"],
        ["involvedObject.kind=Pod,involvedObject.name=api-5d8f-000"],
    ]
    assert all(int(query["limit"][0]) <= 100 for query in queries)


def test_the_fake_api_server_selects_events_by_their_fields(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    fake.put(live_objects.namespace("payments-dev"))
    fake.put(live_objects.event("payments-dev", "Pod", "api-0", "BackOff", warning=True))
    fake.put(live_objects.event("payments-dev", "Pod", "api-0", "Pulled"))
    fake.put(live_objects.event("payments-dev", "Deployment", "api", "ScalingReplicaSet"))

    api = core_api(host)
    warnings = api.list_namespaced_event("payments-dev", field_selector="type=Warning")
    not_pods = api.list_namespaced_event("payments-dev", field_selector="involvedObject.kind!=Pod")

    assert [event.reason for event in warnings.items] == ["BackOff"]
    assert [event.reason for event in not_pods.items] == ["ScalingReplicaSet"]


# --- logs ------------------------------------------------------------------------------------------


def test_the_driver_always_names_the_container_and_bounds_the_log_it_asks_for(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1, containers=("api", "linkerd-proxy"))
    fake.put_log("payments-dev", "api-5d8f-000", "api", "".join(f"line {n}\n" for n in range(500)))
    fake.put_log("payments-dev", "api-5d8f-000", "api", "crashed\n", previous=True)
    driver = driver_for(host)

    log = driver.container_log("payments-dev", "api-5d8f-000", "api")
    previous = driver.container_log("payments-dev", "api-5d8f-000", "api", previous=True)

    assert log.text.splitlines()[0] == "line 400"
    assert len(log.text.splitlines()) == 100
    assert previous.text == "crashed\n"
    current_query, previous_query = requests_to(fake, "/pods/api-5d8f-000/log")
    assert current_query == {"container": ["api"], "tailLines": ["100"], "limitBytes": [str(LOG_LIMIT_BYTES)]}
    assert previous_query == {**current_query, "previous": ["true"]}


def test_a_pod_of_several_containers_refuses_a_log_request_without_one_and_the_driver_never_sends_it(
    cluster_fake_api: Fake,
) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1, containers=("api", "linkerd-proxy"))

    with pytest.raises(ApiException) as refused:
        core_api(host).read_namespaced_pod_log("api-5d8f-000", "payments-dev")
    assert status_of(refused.value) == (
        400,
        "BadRequest",
        "a container name must be specified for pod api-5d8f-000, choose one of: [api linkerd-proxy]",
    )

    sent_before = len(fake.requests)
    with pytest.raises(InvalidRequest):
        driver_for(host).container_log("payments-dev", "api-5d8f-000", "")
    assert len(fake.requests) == sent_before, "the driver refused before sending anything"


@pytest.mark.parametrize(
    ("options", "status", "message"),
    [
        ({"container": "api", "tail_lines": -1}, 422, "tailLines: Invalid value: -1: must be greater than or equal"),
        ({"container": "api", "limit_bytes": 0}, 422, "limitBytes: Invalid value: 0: must be greater than 0"),
        ({"container": "nginx"}, 400, "container nginx is not valid for pod api-5d8f-000"),
        ({"container": "api", "previous": True}, 400, 'previous terminated container "api" in pod "api-5d8f-000"'),
    ],
)
def test_the_log_options_the_api_server_refuses(
    cluster_fake_api: Fake, options: dict[str, Any], status: int, message: str
) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)

    with pytest.raises(ApiException) as refused:
        core_api(host).read_namespaced_pod_log("api-5d8f-000", "payments-dev", **options)

    assert status_of(refused.value)[0] == status
    assert message in status_of(refused.value)[2]


def test_a_log_refused_by_the_api_server_is_the_drivers_error_in_its_words(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)
    driver = driver_for(host)

    with pytest.raises(InvalidRequest, match="previous terminated container"):
        driver.container_log("payments-dev", "api-5d8f-000", "api", previous=True)
    with pytest.raises(NotFound, match='pods "nope" not found'):
        driver.container_log("payments-dev", "nope", "api")


def test_a_log_is_read_raw_so_a_character_cut_by_the_byte_limit_does_not_break_it(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)
    fake.put_log("payments-dev", "api-5d8f-000", "api", '{"msg": "Grüße"}\n')

    log = driver_for(host).container_log("payments-dev", "api-5d8f-000", "api", limit_bytes=12)

    assert log.text == '{"msg": "Gr\N{REPLACEMENT CHARACTER}'
    assert log.truncated
    assert driver_for(host).container_log("payments-dev", "api-5d8f-000", "api").text == '{"msg": "Grüße"}\n'


# --- refusals and outages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "resource", "read"),
    [
        ("list", "pods", lambda d: d.workload_pods("Deployment", "payments-dev", "api")),
        ("list", "events", lambda d: d.events("payments-dev", [("Deployment", "api")])),
        ("get", "pods/log", lambda d: d.container_log("payments-dev", "api-5d8f-000", "api")),
    ],
)
def test_what_kubernetes_rbac_refuses_is_permission_denied_and_not_retried(
    cluster_fake_api: Fake, verb: str, resource: str, read: Any
) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)
    fake.deny(verb, resource)

    with pytest.raises(PermissionDenied) as denied:
        read(driver_for(host))

    assert f'User "{FAKE_USER}" cannot {verb} resource "{resource}"' in denied.value.message
    assert 'in the namespace "payments-dev"' in denied.value.message
    refused = [path for method, path, _ in fake.requests if urlsplit(path).path.endswith(resource.split("/")[-1])]
    assert len(refused) == 1, "a refusal is not retried"


@pytest.mark.parametrize(
    "read",
    [
        lambda d: d.workload_pods("Deployment", "payments-dev", "api"),
        lambda d: d.events("payments-dev", [("Deployment", "api")]),
        lambda d: d.container_log("payments-dev", "api-5d8f-000", "api"),
    ],
)
def test_an_unreachable_api_server_is_unavailable_after_bounded_retries(read: Any) -> None:
    sleeps: list[float] = []
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens
    driver = KubernetesClusterDriver(configuration, retry_policy=FAST, sleep=sleeps.append, timeout_seconds=2)

    with pytest.raises(Unavailable):
        read(driver)
    assert len(sleeps) == 2


def test_a_server_error_while_reading_a_log_is_retried_then_succeeds(cluster_fake_api: Fake) -> None:
    fake, host = cluster_fake_api
    api_with_pods(fake, count=1)
    fake.put_log("payments-dev", "api-5d8f-000", "api", "ok\n")
    fake.fail_next(503)

    assert driver_for(host).container_log("payments-dev", "api-5d8f-000", "api").text == "ok\n"
