"""Provisioning an environment through the drivers (sandbox cluster and cloud): every object once, labelled,
waiting for add-ons; re-running creates nothing new; the teardown (undo) leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from environments.workflows import (
    BucketPlan,
    CachePlan,
    DatabasePlan,
    EnvironmentPlan,
    IngressPlan,
    plan_steps,
)
from providers import errors
from providers.sandbox.cloud import SandboxCloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cloud_driver_for, cluster_driver_for
from regions.models import Cluster
from workflows import engine
from workflows.models import Run, RunStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def cluster(demo: None, settings: Any, tmp_path: Path) -> Cluster:
    settings.DATA_DIR = tmp_path  # a sandbox of this test's own
    return Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")


def full_plan(cluster: Cluster, **changes: Any) -> EnvironmentPlan:
    values: dict[str, Any] = {
        "environment_id": 42,
        "name": "payments-preview",
        "team": "payments",
        "tier": "staging",
        "cluster_id": cluster.pk,
        "namespaces": ("core-services", "student-services"),
        "quota": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "40"},
        "limit_defaults": {"cpu": "500m", "memory": "512Mi"},
        "limit_default_requests": {"cpu": "100m", "memory": "128Mi"},
        "limit_max": {"cpu": "2"},
        "editor_groups": ("payments-devs",),
        "viewer_groups": ("payments-support",),
        "ingress": IngressPlan(
            host="payments-preview.payments.dev.example.com", rate_limit_rps=20, allow_cidrs=("10.0.0.0/8",)
        ),
        "database": DatabasePlan(instance_class="db.t4g.small"),
        "cache": CachePlan(node_type="cache.t4g.micro"),
        "bucket": BucketPlan(cold_storage_after_days=30),
    }
    values.update(changes)
    return EnvironmentPlan(**values)


def run_to_the_end(run: Run) -> Run:
    for _ in range(30):
        engine.advance(run.pk)
        run = Run.objects.get(pk=run.pk)
        if not run.is_active:
            return run
        Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    pytest.fail(f"the run did not finish: {run.status}")


def provision(plan: EnvironmentPlan, key: str = "env-42:provision") -> Run:
    return run_to_the_end(engine.start("environments.provision", key=key, params=plan.to_params()))


def sandbox_cluster(cluster: Cluster) -> SandboxClusterDriver:
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    return driver


def sandbox_cloud(cluster: Cluster) -> SandboxCloudDriver:
    driver = cloud_driver_for(cluster.region)
    assert isinstance(driver, SandboxCloudDriver)
    return driver


def test_the_plan_is_ordered_namespaces_first_then_ingress_then_add_ons(cluster: Cluster) -> None:
    names = [step.name for step in plan_steps(full_plan(cluster))]

    assert names == [
        "Namespace core-services",
        "Resource quota of core-services",
        "Limit range of core-services",
        "Network policy of core-services",
        "Team access to core-services",
        "Namespace student-services",
        "Resource quota of student-services",
        "Limit range of student-services",
        "Network policy of student-services",
        "Team access to student-services",
        "Ingress payments-preview.payments.dev.example.com",
        "PostgreSQL database",
        "Redis cache",
        "Object storage bucket",
    ]


def test_a_plan_survives_the_round_trip_through_the_runs_parameters(cluster: Cluster) -> None:
    plan = full_plan(cluster)

    assert EnvironmentPlan.from_params(plan.to_params()) == plan


def test_provisioning_creates_each_object_once_with_the_environments_labels(cluster: Cluster) -> None:
    run = provision(full_plan(cluster))

    assert run.status == RunStatus.SUCCEEDED, run.error
    kube = sandbox_cluster(cluster)
    namespaces = {n["metadata"]["name"]: n for n in kube.objects("Namespace")}
    assert set(namespaces) == {"payments-preview-core-services", "payments-preview-student-services"}
    labels = namespaces["payments-preview-core-services"]["metadata"]["labels"]
    assert labels["platform-portal.io/team"] == "payments"
    assert labels["platform-portal.io/tier"] == "staging"
    (quota,) = kube.objects("ResourceQuota", "payments-preview-core-services")
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "40"}
    assert len(kube.objects("LimitRange", "payments-preview-core-services")) == 1
    (policy,) = kube.objects("NetworkPolicy", "payments-preview-core-services")
    allowed = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "matchLabels" in peer.get("namespaceSelector", {})
    }
    assert {"payments-preview-student-services", "monitoring"} <= allowed
    bindings = {
        b["roleRef"]["name"]: b["subjects"] for b in kube.objects("RoleBinding", "payments-preview-core-services")
    }
    assert bindings["edit"] == [{"kind": "Group", "name": "payments-devs", "apiGroup": "rbac.authorization.k8s.io"}]
    assert bindings["view"][0]["name"] == "payments-support"
    (ingress,) = kube.objects("Ingress", "payments-preview-core-services")
    assert ingress["spec"]["rules"][0]["host"] == "payments-preview.payments.dev.example.com"


def test_add_ons_are_made_in_the_clusters_region_and_only_their_references_are_kept(cluster: Cluster) -> None:
    run = provision(full_plan(cluster))

    outputs = dict(run.steps.values_list("name", "output"))
    database = outputs["PostgreSQL database"]
    assert database["name"] == "env-tests-42-payments-preview-db"
    assert database["credentials_reference"].startswith("arn:")
    assert outputs["Redis cache"]["endpoint"]
    assert outputs["Ingress payments-preview.payments.dev.example.com"] == {
        "url": "https://payments-preview.payments.dev.example.com/"
    }
    cloud = sandbox_cloud(cluster)
    assert cloud.describe_database("env-tests-42-payments-preview-db").tags["portal:team"] == "payments"
    assert cloud.describe_bucket("portal-tests-env-42-payments-preview").cold_storage_after_days == 30


def test_an_add_on_still_creating_makes_the_run_wait_then_go_on(cluster: Cluster, settings: Any) -> None:
    settings.SANDBOX_LATENCY_SECONDS = 3600
    run = engine.start(
        "environments.provision", key="slow", params=full_plan(cluster, cache=None, bucket=None).to_params()
    )
    for _ in range(12):
        engine.advance(run.pk)
        Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    run = Run.objects.get(pk=run.pk)
    step = run.steps.get(name="PostgreSQL database")
    assert (run.status, step.status, step.note) == ("waiting", "waiting", "the database is creating")


def test_running_the_provisioning_again_creates_nothing_new(cluster: Cluster) -> None:
    plan = full_plan(cluster)
    provision(plan)
    kube = sandbox_cluster(cluster)
    before = {kind: len(kube.objects(kind)) for kind in ("Namespace", "ResourceQuota", "RoleBinding", "Ingress")}
    uids = {n["metadata"]["name"]: n["metadata"]["uid"] for n in kube.objects("Namespace")}

    again = provision(plan, key="env-42:provision:again")

    assert again.status == RunStatus.SUCCEEDED
    assert {kind: len(kube.objects(kind)) for kind in before} == before
    assert {n["metadata"]["name"]: n["metadata"]["uid"] for n in kube.objects("Namespace")} == uids


def test_the_teardown_removes_every_namespace_and_add_on(cluster: Cluster) -> None:
    run = provision(full_plan(cluster))

    teardown = run_to_the_end(engine.undo(run))

    assert teardown.status == RunStatus.SUCCEEDED, teardown.error
    assert sandbox_cluster(cluster).objects("Namespace") == []
    cloud = sandbox_cloud(cluster)
    for describe, name in (
        (cloud.describe_database, "env-tests-42-payments-preview-db"),
        (cloud.describe_cache, "env-tests-42-payments-preview-redis"),
        (cloud.describe_bucket, "portal-tests-env-42-payments-preview"),
    ):
        with pytest.raises(errors.NotFound):
            describe(name)


def test_names_stay_valid_dns_labels_however_long_the_environment_name(cluster: Cluster) -> None:
    plan = full_plan(cluster, name="a-very-long-environment-name-that-goes-on-and-on-and-on")

    names = [plan.namespace_name(namespace) for namespace in plan.namespaces]

    assert all(len(name) <= 63 and not name.endswith("-") for name in names)
    assert len(set(names)) == len(names), "two namespaces of one environment got the same name"
