"""A workload's Kubernetes panel on its deployment page: pods, events and logs read from the cluster on demand,
scoped by the policy, errors in words, and nothing of a log kept by the portal."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import reverse
from kubernetes import client as kubernetes_client

from access.audit import services as audit
from access.models import AuditEvent, Team, User
from deployments.live import services as live
from deployments.models import Deployment, Workload
from portal.demo import Persona
from providers.errors import InvalidRequest
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from providers.sandbox.cluster import SandboxClusterDriver
from regions.models import Cluster
from tests.deployments.test_rollback import workload
from tests.factories import MembershipFactory, UserFactory
from tests.providers import live_objects
from tests.providers.kube_fake import FakeKubeApi

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

NAMESPACE = "checkout-staging-core-services"
CRASHING = "checkout-hash2-ccccc"
HEALTHY = "checkout-hash2-aaaaa"
# Something only the log holds, to look for wherever the portal might keep it.
MARKER = "log-only-marker-7f3a9c"
HOSTILE = "<script>alert('owned')</script>"


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def seed_checkout_pods(seed: Callable[[dict[str, Any]], Any]) -> None:
    """The seeded checkout Deployment's pods (selector app=checkout): one healthy, one crash-looping, and events."""
    seed(live_objects.pod(NAMESPACE, HEALTHY, {"app": "checkout"}, containers=("checkout",), node="ip-10-0-1-7"))
    seed(
        live_objects.pod(
            NAMESPACE,
            CRASHING,
            {"app": "checkout"},
            containers=("checkout", "linkerd-proxy"),
            node="ip-10-0-2-9",
            waiting="CrashLoopBackOff",
            restarts=5,
            last_terminated="Error",
        )
    )
    seed(live_objects.pod(NAMESPACE, "other-0", {"app": "other"}, containers=("other",)))
    seed(live_objects.event(NAMESPACE, "Pod", CRASHING, "BackOff", warning=True, count=21))
    earlier = live_objects.NOW - timedelta(minutes=30)
    seed(live_objects.event(NAMESPACE, "Deployment", "checkout", "ScalingReplicaSet", at=earlier, message="Scaled up"))
    seed(live_objects.event(NAMESPACE, "Pod", "other-0", "OtherWorkloadsEvent"))


@pytest.fixture
def checkout(demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Callable[[Persona], User]) -> Workload:
    """The synced checkout workload (student-experience, staging) and what its sandbox cluster runs."""
    seed_checkout_pods(driver.seed)
    driver.seed_logs(
        [
            (NAMESPACE, CRASHING, "checkout", f"starting checkout\n{HOSTILE}\nKeyError: 'DB_URL' {MARKER}\n", False),
            (NAMESPACE, CRASHING, "checkout", "the instance before: exit 1\n", True),
            (NAMESPACE, CRASHING, "linkerd-proxy", "proxy listening on 127.0.0.1:4140\n", False),
            (NAMESPACE, HEALTHY, "checkout", "GET /healthz 200\n", False),
        ]
    )
    return workload(demo_cluster, persona(Persona.DEVELOPER))


def panel_url(row: Workload) -> str:
    return reverse("deployments:workload_kubernetes", kwargs={"pk": row.pk})


def log_url(row: Workload, pod: str, container: str = "", previous: bool = False) -> str:
    url = f"{reverse('deployments:workload_log', kwargs={'pk': row.pk})}?pod={pod}"
    if container:
        url += f"&container={container}"
    return url + ("&previous=1" if previous else "")


HTMX = {"HX-Request": "true"}


# --- the deployment page and the panel ----------------------------------------------------------


def test_the_deployment_page_offers_the_panel_and_does_not_ask_the_cluster_on_its_own_load(
    client_for: Callable[[Persona | None], Client], checkout: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the deployment page asked the cluster")

    monkeypatch.setattr(live, "cluster_driver_for", no_cluster)
    deployment = Deployment.objects.get(workload=checkout)

    page = client_for(Persona.DEVELOPER).get(reverse("deployments:detail", kwargs={"pk": deployment.pk}))

    assert page.status_code == 200
    body = page.content.decode()
    assert f'hx-get="{panel_url(checkout)}"' in body
    assert f'hx-target="#kube-{checkout.pk}"' in body
    assert f'<div id="kube-{checkout.pk}"></div>' in body


def test_the_panel_shows_the_workloads_pods_the_least_healthy_first_and_their_events(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    answer = client_for(Persona.DEVELOPER).get(panel_url(checkout), headers=HTMX)

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    page = text(answer)
    pods = re.findall(r'data-pod="([^"]+)"', page)
    assert pods == [CRASHING, HEALTHY]  # not the other workload's pod; the crash-looping one first
    crashing = page[page.index(f'data-pod="{CRASHING}"') :]
    assert "CrashLoopBackOff" in crashing[:600]
    assert "data-ready>0/2<" in crashing[:900]
    assert "data-restarts>10<" in crashing[:900]  # 5 per container
    assert "ip-10-0-2-9" in crashing[:1200]
    assert "Picked by <code>app=checkout</code>" in page
    events = re.findall(r'data-event="([^"]+)"', page)
    assert events == ["BackOff", "ScalingReplicaSet"]  # the other workload's pod's event is not there
    assert "21" in page[page.index('data-event="BackOff"') :][:800]
    # The logs of the least healthy pod open with the panel.
    assert f'hx-get="{log_url(checkout, CRASHING)}" hx-trigger="load"' in page


def test_a_pods_logs_show_each_containers_last_lines_escaped(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    answer = client_for(Persona.DEVELOPER).get(log_url(checkout, CRASHING), headers=HTMX)

    assert answer.status_code == 200
    body = answer.content.decode()
    assert re.findall(r'data-container-log="([^"]+)"', body) == ["checkout", "linkerd-proxy"]
    assert "KeyError: &#x27;DB_URL&#x27;" in body
    assert "proxy listening on 127.0.0.1:4140" in body
    assert HOSTILE not in body, "a log line is text, never markup"
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in body
    assert re.search(r'<pre class="log-box" tabindex="0"[^>]*>starting checkout', body)
    # The container restarted: its previous instance is one click away.
    assert log_url(checkout, CRASHING, "checkout", previous=True).replace("&", "&amp;") in body


def test_a_containers_previous_instance_replaces_its_box(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    answer = client_for(Persona.DEVELOPER).get(log_url(checkout, CRASHING, "checkout", previous=True), headers=HTMX)

    body = answer.content.decode()
    assert answer.status_code == 200
    assert f'id="kube-log-{checkout.pk}-{CRASHING}-checkout"' in body
    assert "the instance before: exit 1" in body
    assert "its previous instance" in body
    assert "starting checkout" not in body


def test_only_a_pod_of_the_workload_can_be_read(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    developer = client_for(Persona.DEVELOPER)

    other = text(developer.get(log_url(checkout, "other-0"), headers=HTMX))
    missing = text(developer.get(log_url(checkout, CRASHING, "sidecar"), headers=HTMX))

    assert "other-0 is not a pod of Deployment checkout" in other
    assert "has no container sidecar" in missing
    assert not AuditEvent.objects.filter(verb=audit.WORKLOAD_LOGS_VIEWED).exists()
    assert developer.get(log_url(checkout, "")).status_code == 400


# --- who may look ---------------------------------------------------------------------------------


def test_the_manager_sees_pods_and_events_but_not_logs(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    manager = client_for(Persona.MANAGER)

    panel = text(manager.get(panel_url(checkout), headers=HTMX))

    assert f'data-pod="{CRASHING}"' in panel
    assert 'data-logs="not-allowed"' in panel
    assert "deployments.logs" in panel
    assert reverse("deployments:workload_log", kwargs={"pk": checkout.pk}) not in panel
    assert manager.get(log_url(checkout, CRASHING), headers=HTMX).status_code == 403


def test_another_teams_developer_is_refused_as_if_the_workload_did_not_exist(
    checkout: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the cluster was asked for someone who may not see the workload")

    monkeypatch.setattr(live, "cluster_driver_for", no_cluster)
    outsider = UserFactory.create(username="tutor-dev")
    MembershipFactory.create(team=Team.objects.get(slug="tutor-tools"), user=outsider)  # develops on Tutor Tools
    browser = Client()
    browser.force_login(outsider)

    assert browser.get(panel_url(checkout), headers=HTMX).status_code == 404
    assert browser.get(log_url(checkout, CRASHING), headers=HTMX).status_code == 404
    assert Client().get(panel_url(checkout)).status_code == 302  # to sign in


# --- logs are read, not kept ----------------------------------------------------------------------


def test_a_log_view_is_audited_and_nothing_of_the_log_is_kept_or_logged(
    client_for: Callable[[Persona | None], Client], checkout: Workload, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    answer = client_for(Persona.DEVELOPER).get(log_url(checkout, CRASHING), headers=HTMX)

    assert MARKER in answer.content.decode()
    (event,) = AuditEvent.objects.filter(verb=audit.WORKLOAD_LOGS_VIEWED)
    assert event.actor is not None
    assert event.actor.username == "developer"
    assert (event.object_type, event.object_id) == ("deployments.workload", str(checkout.pk))
    assert event.extra["pod"] == CRASHING
    assert event.extra["containers"] == ["checkout", "linkerd-proxy"]
    assert event.extra["namespace"] == NAMESPACE
    assert MARKER not in caplog.text
    assert not tables_holding(MARKER), "a log's text reached the database"


def tables_holding(needle: str) -> list[str]:
    """Every table of the portal's models that holds ``needle`` anywhere in a row."""
    found = []
    with connection.cursor() as cursor:
        for table in sorted({model._meta.db_table for model in apps.get_models()}):
            cursor.execute(f'SELECT 1 FROM "{table}" AS t WHERE t::text LIKE %s LIMIT 1', [f"%{needle}%"])  # noqa: S608 (our table names)
            if cursor.fetchone():
                found.append(table)
    return found


# --- errors in words --------------------------------------------------------------------------------


@pytest.fixture
def fake_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """The workload's cluster served by the fake Kubernetes API, through the real driver (one try, no waits)."""
    fake = FakeKubeApi()
    host = fake.start()

    def driver_for(cluster: Cluster, *, interactive: bool = False) -> KubernetesClusterDriver:
        configuration = kubernetes_client.Configuration()
        configuration.host = host
        return KubernetesClusterDriver(configuration, retry_policy=RetryPolicy(attempts=1), sleep=lambda _: None)

    monkeypatch.setattr(live, "cluster_driver_for", driver_for)
    fake.put(live_objects.namespace(NAMESPACE))
    fake.put(live_objects.deployment(NAMESPACE, "checkout"))
    seed_checkout_pods(fake.put)
    yield fake
    fake.stop()


@pytest.fixture
def synced_checkout(demo_cluster: Cluster, persona: Callable[[Persona], User]) -> Workload:
    return workload(demo_cluster, persona(Persona.DEVELOPER))


def test_through_the_kubernetes_driver_the_panel_and_logs_read_the_same(
    client_for: Callable[[Persona | None], Client], fake_cluster: FakeKubeApi, synced_checkout: Workload
) -> None:
    fake_cluster.put_log(NAMESPACE, CRASHING, "checkout", f"{HOSTILE}\n")
    developer = client_for(Persona.DEVELOPER)

    panel = text(developer.get(panel_url(synced_checkout), headers=HTMX))
    logs = developer.get(log_url(synced_checkout, CRASHING, "checkout"), headers=HTMX).content.decode()

    assert re.findall(r'data-pod="([^"]+)"', panel) == [CRASHING, HEALTHY]
    assert "&lt;script&gt;" in logs
    assert HOSTILE not in logs
    log_requests = [path for method, path, _ in fake_cluster.requests if "/log?" in path]
    assert log_requests == [
        f"/api/v1/namespaces/{NAMESPACE}/pods/{CRASHING}/log?container=checkout&limitBytes=65536&tailLines=100"
    ]


@pytest.mark.parametrize(
    ("verb", "resource", "expected"),
    [
        ("list", "pods", "does not let the portal read its pods"),
        ("list", "events", "does not let the portal read its events"),
    ],
)
def test_what_kubernetes_rbac_refuses_is_said_in_the_panel(
    client_for: Callable[[Persona | None], Client],
    fake_cluster: FakeKubeApi,
    synced_checkout: Workload,
    verb: str,
    resource: str,
    expected: str,
) -> None:
    fake_cluster.deny(verb, resource)

    answer = client_for(Persona.DEVELOPER).get(panel_url(synced_checkout), headers=HTMX)

    assert answer.status_code == 200
    page = text(answer)
    assert expected in page
    assert f'cannot {verb} resource "{resource}"' in page.replace("&quot;", '"')
    assert "Traceback" not in page
    if resource == "events":  # the pods were read all the same
        assert f'data-pod="{CRASHING}"' in page


def test_a_log_kubernetes_rbac_refuses_is_said_in_its_box(
    client_for: Callable[[Persona | None], Client], fake_cluster: FakeKubeApi, synced_checkout: Workload
) -> None:
    fake_cluster.deny("get", "pods/log")

    answer = client_for(Persona.DEVELOPER).get(log_url(synced_checkout, CRASHING), headers=HTMX)

    assert answer.status_code == 200
    page = text(answer)
    assert page.count('data-problem="log"') == 2  # one box per container, each saying why
    assert "does not let the portal read the log of container checkout" in page
    assert not AuditEvent.objects.filter(verb=audit.WORKLOAD_LOGS_VIEWED).exists()


def test_an_unreachable_cluster_is_said_in_the_panel_and_the_page_still_works(
    client_for: Callable[[Persona | None], Client], fake_cluster: FakeKubeApi, synced_checkout: Workload
) -> None:
    fake_cluster.stop()
    developer = client_for(Persona.DEVELOPER)

    panel = developer.get(panel_url(synced_checkout), headers=HTMX)
    logs = developer.get(log_url(synced_checkout, CRASHING), headers=HTMX)
    deployment = Deployment.objects.get(workload=synced_checkout)
    page = developer.get(reverse("deployments:detail", kwargs={"pk": deployment.pk}))

    assert panel.status_code == logs.status_code == page.status_code == 200
    assert f"The cluster {synced_checkout.cluster.name} could not be reached to read its pods" in text(panel)
    assert "could not be reached" in text(logs)


def test_a_workload_or_namespace_gone_from_the_cluster_is_said_in_the_panel(
    client_for: Callable[[Persona | None], Client], fake_cluster: FakeKubeApi, synced_checkout: Workload
) -> None:
    Workload.objects.filter(pk=synced_checkout.pk).update(namespace="deleted-namespace")

    page = text(client_for(Persona.DEVELOPER).get(panel_url(synced_checkout), headers=HTMX))

    assert "Deployment checkout is not in namespace deleted-namespace" in page
    assert 'data-problem="pods"' in page


def test_something_unexpected_is_a_message_not_a_500(
    client_for: Callable[[Persona | None], Client], checkout: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(live, "cluster_driver_for", broken)

    answer = client_for(Persona.DEVELOPER).get(panel_url(checkout), headers=HTMX)

    assert answer.status_code == 200
    assert "Something went wrong while the portal read the cluster" in text(answer)


def test_without_htmx_the_panel_is_a_page_of_its_own(
    client_for: Callable[[Persona | None], Client], checkout: Workload
) -> None:
    answer = client_for(Persona.DEVELOPER).get(panel_url(checkout))

    assert answer.status_code == 200
    page = text(answer)
    assert "<html" in page
    assert f'data-pod="{CRASHING}"' in page


def test_a_cluster_the_portal_has_no_way_into_is_said_in_the_panel(
    client_for: Callable[[Persona | None], Client], checkout: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_way_in(*args: Any, **kwargs: Any) -> Any:
        raise InvalidRequest("The cluster 'eks-eu-west-1' is reached by kubeconfig, but none is stored.")

    monkeypatch.setattr(live, "cluster_driver_for", no_way_in)
    developer = client_for(Persona.DEVELOPER)

    panel = text(developer.get(panel_url(checkout), headers=HTMX))
    logs = text(developer.get(log_url(checkout, CRASHING), headers=HTMX))

    for answer in (panel, logs):
        assert "The portal cannot reach the cluster eks-eu-west-1: The cluster &#x27;eks-eu-west-1&#x27; is " in answer
