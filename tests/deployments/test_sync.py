"""Cluster sync: workloads and Argo CD applications read through the cluster driver, stored in bulk.

The four workload kinds and the unreachable cluster go through the real
Kubernetes driver and the official client against the fake API server; the
rest uses the sandbox cluster, seeded directly, which shares the driver's
logic (the contract suite keeps them equal).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import AuditEvent, Team, User
from deployments import sync
from deployments.choices import DeploymentSource, DeploymentStatus, Health, ServiceMatch
from deployments.models import ArgoApplication, Deployment, Workload
from deployments.workflows import SYNC
from environments.choices import EnvironmentStatus
from environments.models import Environment
from providers.cluster import ClusterDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions import drivers
from regions.choices import AuthMethod, ClusterKind, ClusterStatus
from regions.models import Cluster
from tests.environments.factories import saved_template
from tests.factories import (
    CloudAccountFactory,
    ClusterFactory,
    GrantFactory,
    OnPremRegionFactory,
    RoleFactory,
    TeamFactory,
    UserFactory,
    make_service,
)
from tests.providers.kube_fake import FakeKubeApi
from workflows import engine
from workflows.models import Run, RunStatus

pytestmark = pytest.mark.django_db

ROLLED_OUT = "2026-11-20T09:00:00Z"
REVISION = "deployment.kubernetes.io/revision"


# --- manifests ------------------------------------------------------------------------------------


def pod_template(name: str, *images: str) -> dict[str, Any]:
    containers = [{"name": f"c{n}", "image": image} for n, image in enumerate(images)]
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}


def selector(name: str) -> dict[str, Any]:
    return {"matchLabels": {"app": name}}


def deployment(
    name: str,
    namespace: str = "core-services",
    image: str = "registry.example.com/app:1.0.0",
    *,
    replicas: int = 2,
    ready: int = 2,
    labels: dict[str, str] | None = None,
    conditions: tuple[tuple[str, str], ...] = (("Available", "True"), ("Progressing", "True")),
    revision: int = 1,
    at: str = ROLLED_OUT,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {},
            "annotations": {REVISION: str(revision)},
        },
        "spec": {"replicas": replicas, "selector": selector(name), "template": pod_template(name, image)},
        "status": {
            "readyReplicas": ready,
            "conditions": [{"type": kind, "status": status, "lastUpdateTime": at} for kind, status in conditions],
        },
    }


def stateful_set(name: str, namespace: str, image: str, *, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": selector(name),
            "template": pod_template(name, image),
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def daemon_set(name: str, namespace: str, image: str, *, desired: int, ready: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {}},
        "spec": {"selector": selector(name), "template": pod_template(name, image)},
        "status": {
            "currentNumberScheduled": desired,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
        },
    }


def cron_job(name: str, namespace: str, image: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {"spec": {"template": pod_template(name, image)}},
        },
        "status": {"lastScheduleTime": ROLLED_OUT},
    }


def argo_application(
    name: str, *, resources: list[dict[str, str]] | None = None, automated: bool = True, sync_status: str = "Synced"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": "default",
        "source": {"repoURL": "https://git.example.com/deploy.git", "path": f"apps/{name}", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "core-services"},
    }
    if automated:
        spec["syncPolicy"] = {"automated": {"prune": True}}
    return {
        "metadata": {"name": name, "namespace": "argocd", "labels": {}},
        "spec": spec,
        "status": {
            "sync": {"status": sync_status, "revision": "0123abc"},
            "health": {"status": "Healthy"},
            "resources": resources or [],
        },
    }


# --- clusters -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path) -> Iterator[Path]:
    with override_settings(DATA_DIR=tmp_path):
        yield tmp_path


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeKubeApi, str]]:
    fake = FakeKubeApi()
    host = fake.start(tls=True)
    yield fake, host
    fake.stop()


@pytest.fixture
def kube_cluster(fake_api: tuple[FakeKubeApi, str]) -> Iterator[Cluster]:
    """A k3s cluster reached by kubeconfig: the real Kubernetes driver, against the fake API server."""
    fake, _ = fake_api
    site = OnPremRegionFactory.create(
        account=CloudAccountFactory.create(provider="on_prem", auth_method=AuthMethod.SANDBOX, role_arn="")
    )
    cluster = ClusterFactory.create(region=site, kind=ClusterKind.K3S, kubeconfig=fake.kubeconfig())
    # The fake API server is on loopback: opened as an administrator opens a centre's private range.
    with override_settings(PROVIDER_MODE="live", CLUSTER_PRIVATE_NETWORKS=["127.0.0.1/32"]):
        yield Cluster.objects.select_related("region__account").get(pk=cluster.pk)


@pytest.fixture
def cluster() -> Cluster:
    """A cluster the tests run on the sandbox driver."""
    made = ClusterFactory.create()
    return Cluster.objects.select_related("region__account").get(pk=made.pk)


def sandbox(cluster: Cluster) -> SandboxClusterDriver:
    driver = drivers.cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    return driver


def rows(cluster: Cluster) -> dict[str, Workload]:
    return {workload.name: workload for workload in Workload.objects.filter(cluster=cluster)}


def environment_on(cluster: Cluster, name: str, team: Team, *, tier: str = "development") -> Environment:
    return Environment.objects.create(
        name=name,
        team=team,
        template=saved_template(slug=f"{name}-template", name=f"{name} template"),
        tier=tier,
        cluster=cluster,
        requested_by=UserFactory.create(),
        status=EnvironmentStatus.READY,
        monthly_estimate="10.00",
        currency="USD",
    )


# --- reading a workload ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.example.com/team/checkout:1.4.2", "1.4.2"),
        ("registry.example.com:5000/checkout:2.0", "2.0"),
        ("registry.example.com:5000/checkout", "latest"),
        ("checkout:1.4.2@sha256:" + "a" * 64, "1.4.2"),
        ("registry.example.com/checkout@sha256:0123456789abcdef" + "0" * 48, "sha256:0123456789ab"),
    ],
)
def test_the_version_is_the_images_tag_or_else_its_short_digest(image: str, version: str) -> None:
    assert sync.image_version(image) == version


# --- the four kinds, through the Kubernetes API ---------------------------------------------------


def test_a_sync_through_the_kubernetes_api_stores_all_four_kinds_with_version_and_health(
    fake_api: tuple[FakeKubeApi, str], kube_cluster: Cluster
) -> None:
    fake, _ = fake_api
    fake.put(deployment("web", labels={"app.kubernetes.io/version": "3.1.0"}, image="registry.example.com/web:sha-9"))
    fake.put(stateful_set("db", "core-services", "postgres:16.4", replicas=3, ready=1))
    fake.put(daemon_set("agent", "monitoring", "registry.example.com/agent@sha256:" + "b" * 64, desired=4, ready=0))
    fake.put(cron_job("report", "analytics", "registry.example.com/report:0.9"))

    result = sync.sync_cluster(kube_cluster)

    stored = rows(kube_cluster)
    assert {(w.kind, w.namespace) for w in stored.values()} == {
        ("Deployment", "core-services"),
        ("StatefulSet", "core-services"),
        ("DaemonSet", "monitoring"),
        ("CronJob", "analytics"),
    }
    assert (result.seen, result.created, result.gone) == (4, 4, 0)
    web, db, agent, report = stored["web"], stored["db"], stored["agent"], stored["report"]
    assert (web.version, web.health, web.revision) == ("3.1.0", Health.HEALTHY, 1)  # the label wins over the tag
    assert web.rolled_out_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert web.conditions == ["Available=True", "Progressing=True"]
    assert (db.version, db.health, db.replicas_desired, db.replicas_ready) == ("16.4", Health.PROGRESSING, 3, 1)
    assert (agent.version, agent.health) == ("sha256:bbbbbbbbbbbb", Health.DEGRADED)
    assert (report.version, report.health) == ("0.9", Health.UNKNOWN)
    assert all(w.first_seen_at == w.last_seen_at and w.gone_at is None for w in stored.values())


def test_a_failing_condition_is_degraded_even_with_replicas_ready(cluster: Cluster) -> None:
    sandbox(cluster).seed(deployment("stuck", conditions=(("Available", "True"), ("Progressing", "False"))))
    sandbox(cluster).seed(deployment("idle", replicas=0, ready=0))

    sync.sync_cluster(cluster)

    assert rows(cluster)["stuck"].health == Health.DEGRADED
    assert rows(cluster)["idle"].health == Health.HEALTHY  # scaled to zero, as asked


# --- matching -------------------------------------------------------------------------------------


def test_workloads_are_matched_to_services_by_label_and_to_environments_by_namespace(cluster: Cluster) -> None:
    checkout = make_service(slug="checkout")
    owners = TeamFactory.create(slug="owners")
    preview = environment_on(cluster, "preview", owners)  # template namespaces: core- and student-services
    driver = sandbox(cluster)
    driver.seed(deployment("checkout-api", "preview-core-services", labels={"app.kubernetes.io/part-of": "checkout"}))
    driver.seed(deployment("checkout-web", "elsewhere", labels={"app.kubernetes.io/name": "checkout"}))
    driver.seed(deployment("worker", "preview-student-services", labels={"platform-portal/service": "checkout"}))
    driver.seed(deployment("mystery", "preview-student-services", labels={"app.kubernetes.io/name": "no-such"}))
    driver.seed(deployment("stray", "elsewhere"))

    sync.sync_cluster(cluster)

    stored = rows(cluster)
    api = stored["checkout-api"]
    assert (api.service, api.service_match, api.environment, api.team, api.tier) == (
        checkout,
        ServiceMatch.LABEL,
        preview,
        checkout.team,
        "development",
    )
    assert (stored["checkout-web"].service, stored["checkout-web"].environment) == (checkout, None)
    assert stored["worker"].service == checkout
    mystery = stored["mystery"]
    assert (mystery.service, mystery.service_match, mystery.environment, mystery.team) == (None, "", preview, owners)
    stray = stored["stray"]
    assert (stray.service, stray.environment, stray.team, stray.tier) == (None, None, None, "")


def test_an_environment_that_is_torn_down_owns_no_namespace(cluster: Cluster) -> None:
    old = environment_on(cluster, "old", TeamFactory.create())
    Environment.objects.filter(pk=old.pk).update(status=EnvironmentStatus.TORN_DOWN)
    sandbox(cluster).seed(deployment("leftover", "old-core-services"))

    sync.sync_cluster(cluster)

    assert rows(cluster)["leftover"].environment is None


def test_a_workload_a_person_claimed_keeps_its_service_whatever_its_labels_say(cluster: Cluster) -> None:
    make_service(slug="checkout")
    claimed_for = make_service(slug="payments")
    sandbox(cluster).seed(deployment("api", labels={"app.kubernetes.io/part-of": "checkout"}))
    sync.sync_cluster(cluster)
    Workload.objects.filter(name="api").update(service=claimed_for, service_match=ServiceMatch.CLAIMED)

    sync.sync_cluster(cluster)

    api = rows(cluster)["api"]
    assert (api.service, api.service_match, api.team) == (claimed_for, ServiceMatch.CLAIMED, claimed_for.team)


# --- gone and back --------------------------------------------------------------------------------


def test_a_workload_deleted_in_the_cluster_is_marked_gone_and_is_not_gone_when_it_comes_back(
    fake_api: tuple[FakeKubeApi, str], kube_cluster: Cluster
) -> None:
    fake, _ = fake_api
    fake.put(deployment("api"))
    fake.put(cron_job("nightly", "core-services", "registry.example.com/nightly:1"))
    sync.sync_cluster(kube_cluster)
    with fake.lock:
        del fake.store[("batch/v1", "cronjobs")][("core-services", "nightly")]

    result = sync.sync_cluster(kube_cluster)

    nightly = rows(kube_cluster)["nightly"]
    assert nightly.is_gone
    assert rows(kube_cluster)["api"].gone_at is None
    assert (result.gone, result.seen) == (1, 1)
    gone_at = nightly.gone_at

    assert sync.sync_cluster(kube_cluster).gone == 0  # already gone: not marked again
    assert rows(kube_cluster)["nightly"].gone_at == gone_at

    fake.put(cron_job("nightly", "core-services", "registry.example.com/nightly:1"))
    result = sync.sync_cluster(kube_cluster)

    assert rows(kube_cluster)["nightly"].gone_at is None
    assert result.back == 1
    assert Workload.objects.filter(cluster=kube_cluster).count() == 2  # the same row, not a new one


# --- versions and deployments ---------------------------------------------------------------------


def test_the_first_sync_takes_what_runs_as_the_baseline_without_recording_deployments(cluster: Cluster) -> None:
    make_service(slug="checkout")
    sandbox(cluster).seed(deployment("api", labels={"app.kubernetes.io/part-of": "checkout"}))

    result = sync.sync_cluster(cluster)

    assert result.deployments == 0
    assert not Deployment.objects.exists()


def test_a_changed_version_records_one_deployment_with_the_version_it_replaced(cluster: Cluster) -> None:
    checkout = make_service(slug="checkout")
    labels = {"app.kubernetes.io/part-of": "checkout"}
    driver = sandbox(cluster)
    driver.seed(deployment("api", image="registry.example.com/checkout:1.0.0", labels=labels))
    sync.sync_cluster(cluster)
    driver.seed(
        deployment(
            "api", image="registry.example.com/checkout:1.1.0", labels=labels, revision=2, at="2026-11-21T10:00:00Z"
        )
    )

    sync.sync_cluster(cluster)

    new = Deployment.objects.get(version="1.1.0")
    assert (new.previous_version, new.previous_images) == ("1.0.0", ["registry.example.com/checkout:1.0.0"])
    assert (new.service, new.workload, new.cluster, new.namespace) == (
        checkout,
        rows(cluster)["api"],
        cluster,
        "core-services",
    )
    assert (new.source, new.status, new.revision, new.team) == (
        DeploymentSource.CLUSTER,
        DeploymentStatus.SUCCEEDED,
        2,
        checkout.team,
    )
    assert new.started_at == datetime(2026, 11, 21, 10, tzinfo=UTC)
    # The baseline it replaced is on record too, from when it was rolled out.
    assert list(Deployment.objects.order_by("started_at").values_list("version", flat=True)) == ["1.0.0", "1.1.0"]

    later = "2026-11-22T10:00:00Z"
    driver.seed(deployment("api", image="registry.example.com/checkout:1.2.0", labels=labels, revision=3, at=later))
    sync.sync_cluster(cluster)

    assert Deployment.objects.count() == 3
    assert Deployment.objects.get(version="1.2.0").previous_version == "1.1.0"


def test_a_new_workload_of_a_service_on_a_known_cluster_is_a_deployment_and_one_of_no_service_is_not(
    cluster: Cluster,
) -> None:
    make_service(slug="checkout")
    driver = sandbox(cluster)
    driver.seed(deployment("existing"))
    sync.sync_cluster(cluster)
    driver.seed(deployment("api", labels={"app.kubernetes.io/part-of": "checkout"}, ready=0))
    driver.seed(deployment("unowned"))

    result = sync.sync_cluster(cluster)

    deployment_row = Deployment.objects.get()
    assert (deployment_row.workload, deployment_row.version) == (rows(cluster)["api"], "1.0.0")
    assert deployment_row.status == DeploymentStatus.FAILED  # no replica ready
    assert result.deployments == 1


def test_a_pipelines_report_and_the_sync_that_finds_the_version_are_one_deployment(cluster: Cluster) -> None:
    checkout = make_service(slug="checkout")
    labels = {"app.kubernetes.io/part-of": "checkout"}
    driver = sandbox(cluster)
    driver.seed(deployment("api", image="registry.example.com/checkout:1.0.0", labels=labels))
    sync.sync_cluster(cluster)
    now = timezone.now().replace(microsecond=0)
    from deployments.services import Target, record_deployment

    record_deployment(
        Target(service=checkout, cluster=cluster, namespace="core-services"),
        version="1.1.0",
        source=DeploymentSource.PIPELINE,
        started_at=now - timedelta(minutes=5),
        commit_sha="abc123",
    )
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    driver.seed(deployment("api", image="registry.example.com/checkout:1.1.0", labels=labels, revision=2, at=stamp))

    sync.sync_cluster(cluster)

    merged = Deployment.objects.get(version="1.1.0")
    assert (merged.source, merged.commit_sha, merged.workload) == (
        DeploymentSource.PIPELINE,
        "abc123",
        rows(cluster)["api"],
    )
    assert merged.status == DeploymentStatus.SUCCEEDED


def test_a_rollout_in_progress_gets_its_outcome_when_a_later_sync_sees_it_finish(cluster: Cluster) -> None:
    labels = {"app.kubernetes.io/part-of": "checkout"}
    make_service(slug="checkout")
    driver = sandbox(cluster)
    driver.seed(deployment("api", image="registry.example.com/checkout:1.0.0", labels=labels))
    sync.sync_cluster(cluster)
    driver.seed(deployment("api", image="registry.example.com/checkout:1.1.0", labels=labels, revision=2, ready=1))
    sync.sync_cluster(cluster)
    assert Deployment.objects.get(version="1.1.0").status == DeploymentStatus.IN_PROGRESS

    driver.seed(deployment("api", image="registry.example.com/checkout:1.1.0", labels=labels, revision=2, ready=2))
    sync.sync_cluster(cluster)

    assert Deployment.objects.filter(version="1.1.0").count() == 1
    assert Deployment.objects.get(version="1.1.0").status == DeploymentStatus.SUCCEEDED


def test_a_resync_with_no_change_records_nothing_and_upserts_no_row(cluster: Cluster) -> None:
    make_service(slug="checkout")
    driver = sandbox(cluster)
    for n in range(5):
        driver.seed(deployment(f"api-{n}", labels={"app.kubernetes.io/part-of": "checkout"}))
    sync.sync_cluster(cluster)
    before = {w.pk: [getattr(w, f) for f in sync.SYNCED_FIELDS] for w in Workload.objects.all()}

    with CaptureQueriesContext(connection) as captured:
        result = sync.sync_cluster(cluster)

    assert (result.created, result.changed, result.back, result.unchanged, result.deployments) == (0, 0, 0, 5, 0)
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert not [sql for sql in writes if "deployments_workload" in sql and sql.startswith("INSERT")]
    assert [sql for sql in writes if "deployments_workload" in sql] == [
        next(sql for sql in writes if '"last_seen_at"' in sql)  # only the one UPDATE of last_seen_at
    ]
    assert {w.pk: [getattr(w, f) for f in sync.SYNCED_FIELDS] for w in Workload.objects.all()} == before
    assert not Deployment.objects.exists()


def test_a_syncs_query_count_does_not_grow_with_its_workloads(cluster: Cluster) -> None:
    def queries_to_sync(count: int, prefix: str) -> int:
        target = Cluster.objects.select_related("region__account").get(pk=ClusterFactory.create().pk)
        sandbox(target).seed_many([deployment(f"{prefix}-{n}") for n in range(count)])
        with CaptureQueriesContext(connection) as captured:
            sync.sync_cluster(target)
        return len(captured.captured_queries)

    assert queries_to_sync(3, "few") == queries_to_sync(60, "many")


# --- Argo CD --------------------------------------------------------------------------------------


def test_argo_cd_applications_are_stored_and_mark_the_workloads_they_manage(
    fake_api: tuple[FakeKubeApi, str], kube_cluster: Cluster
) -> None:
    fake, _ = fake_api
    checkout = make_service(slug="checkout")
    fake.put(deployment("api", labels={"app.kubernetes.io/part-of": "checkout"}))
    fake.put(deployment("web", labels={"app.kubernetes.io/instance": "storefront"}))
    fake.put(deployment("other"))
    listed = [{"group": "apps", "kind": "Deployment", "namespace": "core-services", "name": "api"}]
    fake.install(
        "argoproj.io/v1alpha1",
        "applications",
        "Application",
        [argo_application("checkout-app", resources=listed), argo_application("storefront", automated=False)],
    )
    sync.sync_cluster(kube_cluster)

    result = sync.sync_argo_applications(kube_cluster)

    app = ArgoApplication.objects.get(name="checkout-app")
    assert (app.namespace, app.sync_status, app.health_status, app.revision, app.auto_sync) == (
        "argocd",
        "Synced",
        "Healthy",
        "0123abc",
        True,
    )
    assert (app.repo_url, app.path, app.target_revision, app.destination_namespace) == (
        "https://git.example.com/deploy.git",
        "apps/checkout-app",
        "main",
        "core-services",
    )
    assert (app.service, app.team) == (checkout, checkout.team)  # from the workload it manages
    assert ArgoApplication.objects.get(name="storefront").auto_sync is False
    stored = rows(kube_cluster)
    assert (stored["api"].argocd_application, stored["web"].argocd_application) == ("checkout-app", "storefront")
    assert stored["other"].argocd_application == ""
    assert (result.applications, result.gone, result.workloads_marked) == (2, 0, 2)

    # A workload sync afterwards leaves the marks alone.
    sync.sync_cluster(kube_cluster)
    assert rows(kube_cluster)["api"].argocd_application == "checkout-app"


def test_an_application_removed_from_argo_cd_is_marked_gone_and_unmarks_its_workloads(cluster: Cluster) -> None:
    driver = sandbox(cluster)
    driver.seed(deployment("web", labels={"app.kubernetes.io/instance": "storefront"}))
    driver.install("argoproj.io", "v1alpha1", "applications", [argo_application("storefront")])
    sync.sync_cluster(cluster)
    sync.sync_argo_applications(cluster)
    driver.install("argoproj.io", "v1alpha1", "applications", [])

    result = sync.sync_argo_applications(cluster)

    assert ArgoApplication.objects.get(name="storefront").gone_at is not None
    assert rows(cluster)["web"].argocd_application == ""
    assert (result.applications, result.gone, result.workloads_marked) == (0, 1, 1)


def test_without_argo_cd_there_are_no_applications_and_nothing_breaks(
    fake_api: tuple[FakeKubeApi, str], kube_cluster: Cluster
) -> None:
    fake_api[0].put(deployment("api"))
    sync.sync_cluster(kube_cluster)

    result = sync.sync_argo_applications(kube_cluster)

    assert (result.applications, result.gone, result.workloads_marked) == (0, 0, 0)
    assert not ArgoApplication.objects.exists()


# --- the workflow ---------------------------------------------------------------------------------


def advance(run: Run) -> Run:
    engine.advance(run.pk)
    return Run.objects.get(pk=run.pk)


def come_back_now(run: Run) -> None:
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_sync_run_syncs_workloads_then_argo_cd_and_says_what_it_found(cluster: Cluster) -> None:
    driver = sandbox(cluster)
    driver.seed(deployment("api"))
    driver.install("argoproj.io", "v1alpha1", "applications", [argo_application("checkout-app")])

    run = advance(sync.sync_request(actor=None, cluster_id=cluster.pk))

    assert run.status == RunStatus.SUCCEEDED
    assert run.key.startswith(f"cluster:{cluster.pk}:sync:")
    outputs = dict(run.steps.values_list("action", "output"))
    assert outputs["workloads"]["seen"] == 1
    assert outputs["argocd"]["applications"] == 1


def test_an_unreachable_cluster_fails_the_run_with_the_drivers_error_and_loses_nothing(
    fake_api: tuple[FakeKubeApi, str], kube_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _ = fake_api
    fake.put(deployment("api"))
    sync.sync_cluster(kube_cluster)
    stored_before = list(Workload.objects.values("pk", "gone_at", "last_seen_at", "version"))
    fake.stop()  # nothing listens there any more

    def without_waiting(cluster: Cluster) -> ClusterDriver:
        driver = drivers.cluster_driver_for(cluster)
        driver.sleep = lambda seconds: None  # type: ignore[attr-defined]  # the driver's own retries, at once
        return driver

    monkeypatch.setattr(sync, "cluster_driver_for", without_waiting)
    run = advance(sync.sync_request(actor=None, cluster_id=kube_cluster.pk))
    assert run.status == RunStatus.WAITING  # tried once more a little later
    come_back_now(run)
    run = advance(run)

    assert run.status == RunStatus.FAILED
    step = run.steps.get(action="workloads")
    assert step.error_code == "Unavailable"
    assert "unreachable" in step.error
    assert list(Workload.objects.values("pk", "gone_at", "last_seen_at", "version")) == stored_before


# --- asking for a sync ----------------------------------------------------------------------------


def person_with(*permissions: str) -> User:
    user: User = UserFactory.create()
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=["inventory.view", *permissions]))
    return user


def test_asking_twice_gives_the_one_active_run_and_a_finished_one_lets_a_new_one_start(cluster: Cluster) -> None:
    person = person_with("deployments.view", "deployments.change")
    first = sync.sync_request(actor=person, cluster_id=cluster.pk)
    second = sync.sync_request(actor=None, cluster_id=cluster.pk)

    assert second.pk == first.pk
    assert Run.objects.filter(kind=SYNC).count() == 1
    assert AuditEvent.objects.filter(verb="deployments.sync_requested", actor=person).count() == 1

    advance(first)
    third = sync.sync_request(actor=None, cluster_id=cluster.pk)
    assert third.pk != first.pk


def test_asking_for_a_sync_needs_the_right_to_change_deployments(cluster: Cluster) -> None:
    with pytest.raises(PermissionDenied):
        sync.sync_request(actor=person_with("deployments.view"), cluster_id=cluster.pk)
    with pytest.raises(Http404):  # a cluster they cannot see does not exist, for them
        sync.sync_request(actor=UserFactory.create(), cluster_id=cluster.pk)

    assert not Run.objects.filter(kind=SYNC).exists()


def test_the_schedule_starts_one_sync_per_cluster_in_service(cluster: Cluster) -> None:
    provisioning = ClusterFactory.create(status=ClusterStatus.PROVISIONING)

    started = sync.sync_scheduled()
    again = sync.sync_scheduled()

    subjects = {run.subject_id for run in started}
    assert str(cluster.pk) in subjects
    assert str(provisioning.pk) not in subjects
    assert [run.pk for run in again] == [run.pk for run in started]  # still under way: the same runs


def test_beat_syncs_clusters_on_the_configured_interval(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["deployments-sync"]
    assert entry["task"] == "deployments.sync_clusters"
    assert entry["schedule"] == float(settings.DEPLOYMENTS_SYNC_SECONDS)
