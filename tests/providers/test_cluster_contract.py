"""The cluster driver contract: the same assertions against the sandbox and the Kubernetes driver (fake API server)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from providers.cluster import (
    EVENT_OBJECTS_LIMIT,
    MANAGED_BY_LABEL,
    POD_LIMIT,
    ClusterDriver,
    IngressSpec,
    LimitRangeSpec,
    NamespaceSpec,
    NamespaceUsage,
    NetworkPolicySpec,
    ResourceQuotaSpec,
    RoleBindingSpec,
    Subject,
)
from providers.errors import Busy, InvalidRequest, NotFound, PermissionDenied, Throttled, Unavailable
from tests.providers import live_objects
from tests.providers.conftest import RETRY_AFTER, ClusterHarness

TEAM = {"portal.example/team": "payments", "portal.example/environment": "env-42"}
NGINX = "nginx.ingress.kubernetes.io"


def only(harness: ClusterHarness, kind: str, namespace: str | None = None) -> dict[str, Any]:
    found = harness.objects(kind, namespace)
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def provision(driver: ClusterDriver, namespace: str = "payments-dev") -> list[Any]:
    """The steps an environment's provisioning runs, in order."""
    steps = [
        lambda: driver.ensure_namespace(NamespaceSpec(namespace, TEAM, {"portal.example/owner": "ana"})),
        lambda: driver.ensure_resource_quota(
            ResourceQuotaSpec(namespace, {"requests.cpu": "8", "requests.memory": "16Gi", "pods": "50"}, labels=TEAM)
        ),
        lambda: driver.ensure_limit_range(
            LimitRangeSpec(namespace, {"cpu": "1", "memory": "1Gi"}, {"cpu": "250m", "memory": "256Mi"}, {"cpu": "4"})
        ),
        lambda: driver.ensure_role_binding(
            RoleBindingSpec(namespace, "payments-developers", "edit", (Subject("Group", "payments-devs"),))
        ),
        lambda: driver.ensure_network_policy(NetworkPolicySpec(namespace, ("monitoring",))),
        lambda: driver.ensure_ingress(
            IngressSpec(namespace, "api", "api.payments.example", "api", 8080, "api-tls", 20, ("10.0.0.0/8",))
        ),
    ]
    return steps


def test_the_sandbox_and_the_kubernetes_driver_satisfy_the_protocol(cluster_harness: ClusterHarness) -> None:
    assert isinstance(cluster_harness.driver, ClusterDriver)


def test_ensure_namespace_creates_it_with_the_callers_labels_and_the_managed_by_label(
    cluster_harness: ClusterHarness,
) -> None:
    applied = cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev", TEAM, {"owner": "ana"}))

    namespace = only(cluster_harness, "Namespace")
    assert applied.created
    assert namespace["metadata"]["name"] == "payments-dev"
    assert namespace["metadata"]["labels"] == {
        **TEAM,
        MANAGED_BY_LABEL: "platform-portal",
        "kubernetes.io/metadata.name": "payments-dev",
    }
    assert namespace["metadata"]["annotations"] == {"owner": "ana"}
    assert applied.uid == namespace["metadata"]["uid"]


def test_running_every_ensure_again_changes_nothing(cluster_harness: ClusterHarness) -> None:
    first = [step() for step in provision(cluster_harness.driver)]

    second = [step() for step in provision(cluster_harness.driver)]

    assert all(applied.created for applied in first)
    assert [(a.kind, a.uid, a.resource_version) for a in second] == [(a.kind, a.uid, a.resource_version) for a in first]
    assert not any(applied.created or applied.updated for applied in second)
    for kind in ("Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy", "Ingress"):
        only(cluster_harness, kind)


def test_a_crash_between_two_steps_then_a_rerun_leaves_one_of_each(cluster_harness: ClusterHarness) -> None:
    steps = provision(cluster_harness.driver)
    namespace = steps[0]()
    steps[1]()
    cluster_harness.fail_next("ensure_limit_range", "forbidden")
    with pytest.raises(PermissionDenied):
        steps[2]()  # the worker dies here

    rerun = [step() for step in provision(cluster_harness.driver)]

    assert rerun[0].uid == namespace.uid
    assert [a.created for a in rerun] == [False, False, True, True, True, True]
    for kind in ("Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy", "Ingress"):
        only(cluster_harness, kind)


def test_an_object_left_by_an_interrupted_run_is_adopted_and_brought_in_line(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})
    seeded_uid = only(cluster_harness, "Namespace")["metadata"]["uid"]

    applied = cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev", TEAM))

    namespace = only(cluster_harness, "Namespace")
    assert (applied.created, applied.updated, applied.uid) == (False, True, seeded_uid)
    assert namespace["metadata"]["labels"][MANAGED_BY_LABEL] == "platform-portal"
    assert namespace["metadata"]["labels"]["portal.example/team"] == "payments"


def test_a_changed_spec_patches_the_same_object(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    first = driver.ensure_resource_quota(ResourceQuotaSpec("payments-dev", {"requests.cpu": "8"}))

    second = driver.ensure_resource_quota(ResourceQuotaSpec("payments-dev", {"requests.cpu": "16"}))

    assert (second.uid, second.updated) == (first.uid, True)
    assert second.resource_version != first.resource_version
    assert only(cluster_harness, "ResourceQuota")["spec"]["hard"] == {"requests.cpu": "16"}


def test_quantities_written_back_in_canonical_form_are_not_patched_again(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    driver.ensure_resource_quota(
        ResourceQuotaSpec("payments-dev", {"requests.memory": "1024Mi", "requests.cpu": "500m"})
    )
    quota = only(cluster_harness, "ResourceQuota")
    quota["spec"]["hard"] = {"requests.memory": "1Gi", "requests.cpu": "0.5"}  # as an API server may store them
    cluster_harness.seed(quota)

    applied = driver.ensure_resource_quota(
        ResourceQuotaSpec("payments-dev", {"requests.memory": "1024Mi", "requests.cpu": "500m"})
    )

    assert not applied.updated
    assert only(cluster_harness, "ResourceQuota")["spec"]["hard"] == {"requests.memory": "1Gi", "requests.cpu": "0.5"}


def test_ensuring_a_namespace_that_is_being_deleted_waits_until_it_is_gone(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}, "status": {"phase": "Terminating"}}
    )

    with pytest.raises(Busy):  # a workflow step waits on Busy, as it waits for a resource still being created
        cluster_harness.driver.ensure_namespace(NamespaceSpec("old"))


def test_quota_and_limit_range_carry_the_requested_values(cluster_harness: ClusterHarness) -> None:
    for step in provision(cluster_harness.driver)[:3]:
        step()

    quota = only(cluster_harness, "ResourceQuota", "payments-dev")
    limits = only(cluster_harness, "LimitRange", "payments-dev")
    assert quota["spec"]["hard"] == {"requests.cpu": "8", "requests.memory": "16Gi", "pods": "50"}
    assert quota["metadata"]["labels"] == {**TEAM, MANAGED_BY_LABEL: "platform-portal"}
    assert limits["spec"]["limits"] == [
        {
            "type": "Container",
            "default": {"cpu": "1", "memory": "1Gi"},
            "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
            "max": {"cpu": "4"},
        }
    ]


def test_the_role_binding_grants_the_cluster_role_to_its_subjects(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    driver.ensure_role_binding(
        RoleBindingSpec("payments-dev", "viewers", "view", (Subject("Group", "auditors"), Subject("User", "ana")))
    )

    binding = only(cluster_harness, "RoleBinding", "payments-dev")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("Group", "auditors"), ("User", "ana")]


def test_changing_a_role_bindings_cluster_role_replaces_the_binding(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    subjects = (Subject("Group", "payments-devs"),)
    first = driver.ensure_role_binding(RoleBindingSpec("payments-dev", "portal-team", "edit", subjects))

    # A binding's roleRef cannot change (the API answers 422): the binding is deleted and created again.
    second = driver.ensure_role_binding(RoleBindingSpec("payments-dev", "portal-team", "view", subjects))

    binding = only(cluster_harness, "RoleBinding", "payments-dev")
    assert binding["roleRef"]["name"] == "view"
    assert (second.created, second.uid) == (True, binding["metadata"]["uid"])
    assert second.uid != first.uid
    assert not driver.ensure_role_binding(RoleBindingSpec("payments-dev", "portal-team", "view", subjects)).updated


def test_the_network_policy_denies_all_ingress_except_the_allowed_namespaces(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    driver.ensure_network_policy(NetworkPolicySpec("payments-dev", ("monitoring",), allow_ingress_controller=True))

    policy = only(cluster_harness, "NetworkPolicy", "payments-dev")["spec"]
    assert policy["podSelector"] == {}
    assert policy["policyTypes"] == ["Ingress"]
    assert [source["namespaceSelector"]["matchLabels"] for source in policy["ingress"][0]["from"]] == [
        {"kubernetes.io/metadata.name": "monitoring"},
        {"kubernetes.io/metadata.name": "ingress-nginx"},
    ]


def test_a_policy_with_no_allowed_source_denies_everything(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    driver.ensure_network_policy(NetworkPolicySpec("payments-dev", (), allow_ingress_controller=False))

    assert only(cluster_harness, "NetworkPolicy")["spec"]["ingress"] == []


def test_the_ingress_carries_the_nginx_and_cert_manager_annotations(cluster_harness: ClusterHarness) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))

    driver.ensure_ingress(
        IngressSpec(
            "payments-dev", "api", "api.payments.example", "api", 8080, "api-tls", 20, ("10.0.0.0/8",), ("1.2.3.4/32",)
        )
    )

    ingress = only(cluster_harness, "Ingress", "payments-dev")
    assert ingress["metadata"]["annotations"] == {
        f"{NGINX}/limit-rps": "20",
        f"{NGINX}/whitelist-source-range": "10.0.0.0/8",
        f"{NGINX}/denylist-source-range": "1.2.3.4/32",
        f"{NGINX}/ssl-redirect": "true",
        "cert-manager.io/cluster-issuer": "letsencrypt",
    }
    assert ingress["spec"]["tls"] == [{"hosts": ["api.payments.example"], "secretName": "api-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "api", "port": {"number": 8080}}}


def test_dropping_the_rate_limit_removes_its_annotation_but_leaves_foreign_ones(
    cluster_harness: ClusterHarness,
) -> None:
    driver = cluster_harness.driver
    driver.ensure_namespace(NamespaceSpec("payments-dev"))
    driver.ensure_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80, rate_limit_rps=20))
    ingress = only(cluster_harness, "Ingress")
    ingress["metadata"]["annotations"]["example.com/owner"] = "someone else"
    cluster_harness.seed(ingress)

    applied = driver.ensure_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80))

    assert applied.updated
    assert only(cluster_harness, "Ingress")["metadata"]["annotations"] == {"example.com/owner": "someone else"}


# --- workloads --------------------------------------------------------------------------------------


def pod_template(image: str, app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": app, "image": image}]}}


def selector(app: str) -> dict[str, Any]:
    return {"matchLabels": {"app": app}}


def owner(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}]


def seed_workloads(harness: ClusterHarness) -> None:
    """What the controllers of a running cluster would have written: four kinds over two namespaces."""
    for name in ("payments-dev", "analytics"):
        harness.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    harness.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "api",
                "namespace": "payments-dev",
                "labels": {"app": "api"},
                "annotations": {"deployment.kubernetes.io/revision": "2"},
            },
            "spec": {
                "replicas": 3,
                "selector": selector("api"),
                "template": pod_template("registry.example/api:1.1", "api"),
            },
            "status": {
                "readyReplicas": 2,
                "conditions": [
                    {"type": "Available", "status": "True", "lastUpdateTime": "2026-11-26T10:00:00Z"},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": "2026-11-26T11:00:00Z"},
                ],
            },
        }
    )
    for revision, image in ((1, "registry.example/api:1.0"), (2, "registry.example/api:1.1")):
        template = pod_template(image, "api")
        template["metadata"]["labels"]["pod-template-hash"] = f"hash{revision}"
        harness.seed(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"api-hash{revision}",
                    "namespace": "payments-dev",
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": owner("Deployment", "api"),
                },
                "spec": {"replicas": 0, "selector": selector("api"), "template": template},
            }
        )
    harness.seed(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api", "namespace": "payments-dev"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                "maxReplicas": 6,
            },
            "status": {"currentReplicas": 3, "desiredReplicas": 5},
        }
    )
    harness.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "analytics"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": selector("db"),
                "template": pod_template("postgres:16.4", "db"),
            },
            "status": {"replicas": 2, "readyReplicas": 2},
        }
    )
    for revision, image in ((1, "postgres:16.3"), (2, "postgres:16.4")):
        harness.seed(
            {
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": f"db-{revision}",
                    "namespace": "analytics",
                    "ownerReferences": owner("StatefulSet", "db"),
                },
                "revision": revision,
                "data": {"spec": {"template": {**pod_template(image, "db"), "$patch": "replace"}}},
            }
        )
    harness.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "log-shipper", "namespace": "analytics"},
            "spec": {"selector": selector("log-shipper"), "template": pod_template("fluent-bit:3.1", "log-shipper")},
            "status": {
                "currentNumberScheduled": 4,
                "desiredNumberScheduled": 4,
                "numberMisscheduled": 0,
                "numberReady": 3,
            },
        }
    )
    harness.seed(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly-report", "namespace": "analytics"},
            "spec": {
                "schedule": "0 2 * * *",
                "jobTemplate": {"spec": {"template": pod_template("reports:2.0", "report")}},
            },
            "status": {"active": [{"name": "nightly-report-1"}], "lastScheduleTime": "2026-11-27T02:00:00Z"},
        }
    )


def test_list_workloads_reads_the_four_kinds_across_namespaces(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    workloads = cluster_harness.driver.list_workloads()

    assert [(w.namespace, w.kind, w.name, w.images, w.replicas_desired, w.replicas_ready) for w in workloads] == [
        ("analytics", "CronJob", "nightly-report", ("reports:2.0",), 1, 1),
        ("analytics", "DaemonSet", "log-shipper", ("fluent-bit:3.1",), 4, 3),
        ("analytics", "StatefulSet", "db", ("postgres:16.4",), 2, 2),
        ("payments-dev", "Deployment", "api", ("registry.example/api:1.1",), 3, 2),
    ]
    api = workloads[-1]
    assert (api.hpa_current, api.hpa_desired, api.revision) == (3, 5, 2)
    assert api.conditions == ("Available=True", "Progressing=True")
    assert api.updated_at is not None
    assert api.updated_at.isoformat() == "2026-11-26T11:00:00+00:00"
    assert api.labels == {"app": "api"}
    assert workloads[2].revision == 2
    assert workloads[0].hpa_current is None


def test_list_workloads_in_one_namespace_shows_only_that_namespace(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    workloads = cluster_harness.driver.list_workloads("payments-dev")

    assert [(w.kind, w.name) for w in workloads] == [("Deployment", "api")]


def test_rolling_back_a_deployment_restores_the_previous_replica_sets_template(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    deployment = only(cluster_harness, "Deployment")
    template = deployment["spec"]["template"]
    template["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-11-26T12:00:00Z"}
    template["spec"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
    cluster_harness.seed(deployment)

    workload = cluster_harness.driver.rollback_workload("Deployment", "payments-dev", "api")

    assert workload.images == ("registry.example/api:1.0",)
    # exactly revision 1's template: nothing added since survives, no pod-template-hash carried over
    assert only(cluster_harness, "Deployment")["spec"]["template"] == pod_template("registry.example/api:1.0", "api")


def test_rolling_back_a_statefulset_uses_its_controller_revisions(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    workload = cluster_harness.driver.rollback_workload("StatefulSet", "analytics", "db", to_revision=1)

    assert workload.images == ("postgres:16.3",)
    assert "$patch" not in only(cluster_harness, "StatefulSet")["spec"]["template"]


def test_a_cronjob_cannot_be_rolled_back(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    with pytest.raises(InvalidRequest):
        cluster_harness.driver.rollback_workload("CronJob", "analytics", "nightly-report")


def test_rolling_back_to_a_revision_that_does_not_exist_is_an_invalid_request(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    with pytest.raises(InvalidRequest):
        cluster_harness.driver.rollback_workload("Deployment", "payments-dev", "api", to_revision=7)


def test_rolling_back_a_missing_workload_is_not_found(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-dev"}})

    with pytest.raises(NotFound):
        cluster_harness.driver.rollback_workload("Deployment", "payments-dev", "ghost")


def test_the_history_of_a_deployment_lists_its_replica_sets_newest_first_and_marks_the_running_one(
    cluster_harness: ClusterHarness,
) -> None:
    seed_workloads(cluster_harness)
    replica_set = next(rs for rs in cluster_harness.objects("ReplicaSet") if rs["metadata"]["name"] == "api-hash2")
    replica_set["metadata"]["annotations"]["kubernetes.io/change-cause"] = "release 1.1"
    cluster_harness.seed(replica_set)

    history = cluster_harness.driver.workload_history("Deployment", "payments-dev", "api")

    assert [(r.revision, r.images, r.change_cause, r.current) for r in history] == [
        (2, ("registry.example/api:1.1",), "release 1.1", True),
        (1, ("registry.example/api:1.0",), "", False),
    ]
    assert all(r.created_at is not None for r in history)


def test_the_history_of_a_statefulset_comes_from_its_controller_revisions(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    history = cluster_harness.driver.workload_history("StatefulSet", "analytics", "db")

    assert [(r.revision, r.images, r.current) for r in history] == [
        (2, ("postgres:16.4",), True),
        (1, ("postgres:16.3",), False),
    ]


def test_a_cronjob_or_a_missing_workload_has_no_history(cluster_harness: ClusterHarness) -> None:
    seed_workloads(cluster_harness)

    with pytest.raises(InvalidRequest):
        cluster_harness.driver.workload_history("CronJob", "analytics", "nightly-report")
    with pytest.raises(NotFound):
        cluster_harness.driver.workload_history("Deployment", "payments-dev", "ghost")


def node(name: str, labels: dict[str, str], allocatable: dict[str, str], ready: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": allocatable,
            "allocatable": allocatable,
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}],
        },
    }


def test_nodes_report_allocatable_capacity_pool_and_spot_for_eks_aks_and_k3s(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed(
        node(
            "ip-10-42-10-7.eu-west-1.compute.internal",
            {
                "eks.amazonaws.com/nodegroup": "batch",
                "eks.amazonaws.com/capacityType": "SPOT",
                "node.kubernetes.io/instance-type": "c6i.2xlarge",
                "topology.kubernetes.io/zone": "eu-west-1a",
            },
            {"cpu": "7910m", "memory": "15Gi", "pods": "58"},
        )
    )
    cluster_harness.seed(
        node(
            "aks-gpu-12345678-vmss000000",
            {
                "kubernetes.azure.com/agentpool": "gpu",
                "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
                "topology.kubernetes.io/zone": "westeurope-1",
            },
            {"cpu": "5840m", "memory": "100Gi", "nvidia.com/gpu": "1"},
        )
    )
    cluster_harness.seed(node("centre-k3s-1", {"kubernetes.io/hostname": "centre-k3s-1"}, {"cpu": "8"}, ready="False"))

    nodes = {n.name: n for n in cluster_harness.driver.list_nodes()}

    eks = nodes["ip-10-42-10-7.eu-west-1.compute.internal"]
    assert (eks.pool, eks.instance_type, eks.zone, eks.capacity_type) == ("batch", "c6i.2xlarge", "eu-west-1a", "spot")
    assert (eks.cpu_allocatable, eks.memory_allocatable, eks.gpu_allocatable, eks.ready) == (
        Decimal("7.91"),
        15 * 2**30,
        0,
        True,
    )
    aks = nodes["aks-gpu-12345678-vmss000000"]
    assert (aks.pool, aks.capacity_type, aks.gpu_allocatable) == ("gpu", "on-demand", 1)
    k3s = nodes["centre-k3s-1"]
    assert (k3s.pool, k3s.instance_type, k3s.capacity_type, k3s.cpu_allocatable, k3s.ready) == (
        "",
        "",
        "on-demand",
        Decimal(8),
        False,
    )


# --- usage and custom resources ---------------------------------------------------------------------


def pod(namespace: str, name: str, requests: dict[str, str], phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": "app:1", "resources": {"requests": requests}}]},
        "status": {"phase": phase},
    }


def seed_pods(harness: ClusterHarness) -> None:
    harness.seed(pod("payments-dev", "api-1", {"cpu": "250m", "memory": "256Mi"}))
    harness.seed(pod("payments-dev", "api-2", {"cpu": "1", "memory": "1Gi"}))
    harness.seed(pod("payments-dev", "migrate", {"cpu": "4", "memory": "8Gi"}, phase="Succeeded"))
    harness.seed(pod("analytics", "trainer", {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}))


def test_namespace_usage_sums_requests_of_live_pods_and_has_no_usage_without_metrics(
    cluster_harness: ClusterHarness,
) -> None:
    seed_pods(cluster_harness)

    usage = cluster_harness.driver.namespace_usage()

    assert usage == [
        NamespaceUsage("analytics", Decimal(2), None, 4 * 2**30, None, 1),
        NamespaceUsage("payments-dev", Decimal("1.25"), None, 256 * 2**20 + 2**30, None, 0),
    ]


def test_namespace_usage_reads_metrics_when_metrics_server_is_installed(cluster_harness: ClusterHarness) -> None:
    seed_pods(cluster_harness)
    cluster_harness.install(
        "metrics.k8s.io/v1beta1",
        "pods",
        "PodMetrics",
        [
            {
                "metadata": {"name": "api-1", "namespace": "payments-dev"},
                "containers": [{"name": "main", "usage": {"cpu": "120000000n", "memory": "100Mi"}}],
            },
            {
                "metadata": {"name": "api-2", "namespace": "payments-dev"},
                "containers": [{"name": "main", "usage": {"cpu": "30m", "memory": "50Mi"}}],
            },
        ],
    )

    usage = {u.namespace: u for u in cluster_harness.driver.namespace_usage()}

    assert (usage["payments-dev"].cpu_usage, usage["payments-dev"].memory_usage) == (Decimal("0.15"), 150 * 2**20)
    assert (usage["analytics"].cpu_usage, usage["analytics"].memory_usage) == (Decimal(0), 0)


def test_namespaces_are_listed_by_name_with_their_labels(cluster_harness: ClusterHarness) -> None:
    cluster_harness.driver.ensure_namespace(NamespaceSpec("search", {"cost-center": "cc-9"}))
    cluster_harness.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "analytics"}})

    namespaces = cluster_harness.driver.list_namespaces()

    assert [namespace.name for namespace in namespaces] == ["analytics", "search"]
    search = namespaces[1].labels
    assert (search["cost-center"], search[MANAGED_BY_LABEL]) == ("cc-9", "platform-portal")


def test_custom_resources_are_empty_when_the_crd_is_not_installed(cluster_harness: ClusterHarness) -> None:
    assert cluster_harness.driver.list_custom_resources("argoproj.io", "v1alpha1", "applications") == []


def test_custom_resources_are_listed_when_the_crd_is_installed(cluster_harness: ClusterHarness) -> None:
    application = {
        "metadata": {"name": "payments-api", "namespace": "argocd", "labels": {"team": "payments"}},
        "spec": {"project": "payments"},
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    }
    cluster_harness.install("argoproj.io/v1alpha1", "applications", "Application", [application])

    everywhere = cluster_harness.driver.list_custom_resources("argoproj.io", "v1alpha1", "applications")
    elsewhere = cluster_harness.driver.list_custom_resources("argoproj.io", "v1alpha1", "applications", "default")

    assert [(r.kind, r.namespace, r.name, r.labels) for r in everywhere] == [
        ("Application", "argocd", "payments-api", {"team": "payments"})
    ]
    assert everywhere[0].status["health"] == {"status": "Healthy"}
    assert everywhere[0].spec == {"project": "payments"}
    assert elsewhere == []


# --- deletion and errors ----------------------------------------------------------------------------


def test_delete_namespace_removes_it_with_its_objects_and_is_idempotent(cluster_harness: ClusterHarness) -> None:
    for step in provision(cluster_harness.driver):
        step()

    cluster_harness.driver.delete_namespace("payments-dev")
    cluster_harness.driver.delete_namespace("payments-dev")

    assert cluster_harness.objects("Namespace") == []
    assert cluster_harness.objects("Ingress") == []


def test_throttling_is_retried_after_the_backends_hint_then_succeeds(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("ensure_namespace", "throttled", times=2)

    applied = cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert applied.created
    assert cluster_harness.sleeps == [RETRY_AFTER, RETRY_AFTER]
    only(cluster_harness, "Namespace")


def test_throttling_surfaces_as_throttled_when_the_retries_are_exhausted(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("ensure_namespace", "throttled", times=3)

    with pytest.raises(Throttled) as raised:
        cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert raised.value.retry_after == RETRY_AFTER
    assert len(cluster_harness.sleeps) == 2
    assert cluster_harness.objects("Namespace") == []


def test_a_transient_fault_is_retried(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("list_workloads", "unavailable", times=1)

    assert cluster_harness.driver.list_workloads() == []
    assert len(cluster_harness.sleeps) == 1


def test_a_transient_fault_that_persists_surfaces_as_unavailable(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("namespace_usage", "unavailable", times=3)

    with pytest.raises(Unavailable):
        cluster_harness.driver.namespace_usage()


def test_forbidden_is_permission_denied_and_not_retried(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("ensure_namespace", "forbidden")

    with pytest.raises(PermissionDenied):
        cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert cluster_harness.sleeps == []


def test_an_invalid_object_is_an_invalid_request_and_not_retried(cluster_harness: ClusterHarness) -> None:
    cluster_harness.fail_next("ensure_namespace", "invalid")

    with pytest.raises(InvalidRequest):
        cluster_harness.driver.ensure_namespace(NamespaceSpec("payments-dev"))

    assert cluster_harness.sleeps == []


# --- one workload on demand: its pods, events and container logs --------------------------------------


def a_workload_with_neighbours(harness: ClusterHarness) -> None:
    """``api`` in payments-dev with three pods (one crash-looping), beside pods it must not pick."""
    for name in ("payments-dev", "payments-prod"):
        harness.seed(live_objects.namespace(name))
    harness.seed(live_objects.deployment("payments-dev", "api"))
    harness.seed(live_objects.pod("payments-dev", "api-5d8f-aaaaa", {"app": "api"}, restarts=1))
    harness.seed(live_objects.pod("payments-dev", "api-5d8f-bbbbb", {"app": "api"}, node="node-2"))
    harness.seed(
        live_objects.pod(
            "payments-dev",
            "api-5d8f-ccccc",
            {"app": "api"},
            waiting="CrashLoopBackOff",
            restarts=7,
            last_terminated="Error",
        )
    )
    harness.seed(live_objects.pod("payments-dev", "web-0", {"app": "web"}, owner=("StatefulSet", "web")))
    harness.seed(live_objects.pod("payments-prod", "api-6f9c-ddddd", {"app": "api"}))


def test_a_workloads_pods_are_the_ones_its_selector_picks_in_its_namespace(cluster_harness: ClusterHarness) -> None:
    a_workload_with_neighbours(cluster_harness)

    found = cluster_harness.driver.workload_pods("Deployment", "payments-dev", "api")

    assert found.selector == "app=api"
    assert [pod.name for pod in found.pods] == ["api-5d8f-aaaaa", "api-5d8f-bbbbb", "api-5d8f-ccccc"]
    assert not found.truncated
    first, second, crashing = found.pods
    assert (first.phase, first.ready_containers, len(first.containers), first.restarts) == ("Running", 1, 1, 1)
    assert (first.node, second.node) == ("node-1", "node-2")
    assert (first.owner_kind, first.owner_name) == ("ReplicaSet", "api-5d8f")
    assert first.created_at == live_objects.NOW - timedelta(hours=3)
    assert first.healthy
    assert not crashing.healthy
    assert (crashing.status, crashing.ready_containers, crashing.restarts) == ("CrashLoopBackOff", 0, 7)
    assert crashing.containers[0].has_previous
    assert crashing.containers[0].last_terminated == "Error"


def test_a_workloads_pods_are_bounded_and_say_when_more_matched(cluster_harness: ClusterHarness) -> None:
    a_workload_with_neighbours(cluster_harness)

    found = cluster_harness.driver.workload_pods("Deployment", "payments-dev", "api", limit=2)

    assert len(found.pods) == 2
    assert found.truncated
    with pytest.raises(InvalidRequest):
        cluster_harness.driver.workload_pods("Deployment", "payments-dev", "api", limit=POD_LIMIT + 1)


def test_one_pod_is_found_only_when_it_is_the_workloads(cluster_harness: ClusterHarness) -> None:
    a_workload_with_neighbours(cluster_harness)
    driver = cluster_harness.driver

    assert [p.name for p in driver.workload_pods("Deployment", "payments-dev", "api", only="api-5d8f-bbbbb").pods] == [
        "api-5d8f-bbbbb"
    ]
    assert driver.workload_pods("Deployment", "payments-dev", "api", only="web-0").pods == ()
    assert driver.workload_pods("Deployment", "payments-dev", "api", only="api-6f9c-ddddd").pods == ()


def test_set_based_selectors_pick_pods_as_the_api_does(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed(live_objects.namespace("payments-dev"))
    selector = {
        "matchLabels": {"app": "api"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "debug", "operator": "DoesNotExist"},
        ],
    }
    cluster_harness.seed(live_objects.deployment("payments-dev", "api", selector))
    for name, labels in (
        ("api-stable", {"app": "api", "track": "stable"}),
        ("api-canary", {"app": "api", "track": "canary"}),
        ("api-debug", {"app": "api", "track": "stable", "debug": "1"}),
        ("api-other", {"app": "api", "track": "shadow"}),
    ):
        cluster_harness.seed(live_objects.pod("payments-dev", name, labels))

    found = cluster_harness.driver.workload_pods("Deployment", "payments-dev", "api")

    assert found.selector == "app=api,track in (canary,stable),!debug"
    assert [pod.name for pod in found.pods] == ["api-canary", "api-stable"]


def test_a_cronjobs_pods_are_picked_by_its_job_templates_labels_and_none_without_them(
    cluster_harness: ClusterHarness,
) -> None:
    cluster_harness.seed(live_objects.namespace("payments-dev"))
    cluster_harness.seed(live_objects.cron_job("payments-dev", "report", {"app": "report"}))
    cluster_harness.seed(live_objects.cron_job("payments-dev", "bare", {}))
    cluster_harness.seed(
        live_objects.pod("payments-dev", "report-2934-x", {"app": "report"}, phase="Succeeded", owner=("Job", "r"))
    )
    cluster_harness.seed(live_objects.pod("payments-dev", "web-0", {"app": "web"}))
    driver = cluster_harness.driver

    assert [pod.name for pod in driver.workload_pods("CronJob", "payments-dev", "report").pods] == ["report-2934-x"]
    bare = driver.workload_pods("CronJob", "payments-dev", "bare")
    assert (bare.selector, bare.pods) == ("", ())  # an empty selector would pick every pod of the namespace


def test_the_pods_of_a_missing_workload_are_not_found(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed(live_objects.namespace("payments-dev"))

    with pytest.raises(NotFound):
        cluster_harness.driver.workload_pods("Deployment", "payments-dev", "gone")


def test_events_are_those_of_the_named_objects_newest_first_and_bounded(cluster_harness: ClusterHarness) -> None:
    a_workload_with_neighbours(cluster_harness)
    now = live_objects.NOW
    for seeded in (
        live_objects.event("payments-dev", "Deployment", "api", "ScalingReplicaSet", at=now - timedelta(minutes=30)),
        live_objects.event("payments-dev", "Pod", "api-5d8f-ccccc", "BackOff", at=now, warning=True, count=28),
        live_objects.event("payments-dev", "Pod", "api-5d8f-aaaaa", "Pulled", at=now - timedelta(minutes=10)),
        live_objects.event("payments-dev", "Pod", "web-0", "Pulled", at=now),  # another workload's pod
        live_objects.event("payments-dev", "Service", "api", "EnsuringLoadBalancer", at=now),  # same name, other kind
        live_objects.event("payments-prod", "Deployment", "api", "ScalingReplicaSet", at=now),  # another namespace
    ):
        cluster_harness.seed(seeded)
    involved = [("Deployment", "api"), ("Pod", "api-5d8f-aaaaa"), ("Pod", "api-5d8f-ccccc")]

    events = cluster_harness.driver.events("payments-dev", involved)

    assert [(e.involved_kind, e.involved_name, e.reason) for e in events] == [
        ("Pod", "api-5d8f-ccccc", "BackOff"),
        ("Pod", "api-5d8f-aaaaa", "Pulled"),
        ("Deployment", "api", "ScalingReplicaSet"),
    ]
    backoff = events[0]
    assert (backoff.type, backoff.warning, backoff.count, backoff.last_seen) == ("Warning", True, 28, now)
    assert [e.reason for e in cluster_harness.driver.events("payments-dev", involved, limit=1)] == ["BackOff"]
    with pytest.raises(InvalidRequest):
        cluster_harness.driver.events("payments-dev", [("Pod", f"p-{n}") for n in range(EVENT_OBJECTS_LIMIT + 1)])


def test_a_containers_log_is_its_last_lines_and_its_previous_instance_is_there_when_it_restarted(
    cluster_harness: ClusterHarness,
) -> None:
    a_workload_with_neighbours(cluster_harness)
    lines = "".join(f"request {number}\n" for number in range(1, 301))
    cluster_harness.log("payments-dev", "api-5d8f-ccccc", "api", lines)
    cluster_harness.log("payments-dev", "api-5d8f-ccccc", "api", "KeyError: 'DATABASE_URL'\n", previous=True)
    driver = cluster_harness.driver

    log = driver.container_log("payments-dev", "api-5d8f-ccccc", "api", tail_lines=100)
    previous = driver.container_log("payments-dev", "api-5d8f-ccccc", "api", previous=True)

    assert log.text.splitlines() == [f"request {number}" for number in range(201, 301)]
    assert not log.truncated
    assert not log.previous
    assert previous.text == "KeyError: 'DATABASE_URL'\n"
    assert previous.previous


def test_a_log_is_cut_at_its_byte_limit_and_reads_as_text(cluster_harness: ClusterHarness) -> None:
    a_workload_with_neighbours(cluster_harness)
    # Colour codes, and a two-byte character the byte limit cuts in half.
    cluster_harness.log("payments-dev", "api-5d8f-aaaaa", "api", "\x1b[31mERROR\x1b[0m café\nnext line\n")

    log = cluster_harness.driver.container_log("payments-dev", "api-5d8f-aaaaa", "api", limit_bytes=19)

    assert log.truncated
    assert log.text == "ERROR caf\N{REPLACEMENT CHARACTER}"


@pytest.mark.parametrize(
    ("pod", "container", "previous", "error"),
    [
        ("api-5d8f-aaaaa", "sidecar", False, InvalidRequest),  # the pod has no such container
        ("api-5d8f-aaaaa", "api", True, InvalidRequest),  # it never restarted: no previous instance
        ("api-5d8f-ccccc", "api", True, InvalidRequest),  # restarted, but the kubelet kept no earlier log
        ("nope", "api", False, NotFound),
        ("api-5d8f-aaaaa", "", False, InvalidRequest),  # never sent without a container
    ],
)
def test_a_log_that_cannot_be_read_is_a_typed_error(
    cluster_harness: ClusterHarness, pod: str, container: str, previous: bool, error: type[Exception]
) -> None:
    a_workload_with_neighbours(cluster_harness)

    with pytest.raises(error):
        cluster_harness.driver.container_log("payments-dev", pod, container, previous=previous)


def test_a_container_waiting_to_start_has_no_log_yet(cluster_harness: ClusterHarness) -> None:
    cluster_harness.seed(live_objects.namespace("payments-dev"))
    cluster_harness.seed(live_objects.pod("payments-dev", "api-new", {"app": "api"}, waiting="ContainerCreating"))

    with pytest.raises(InvalidRequest, match="is waiting to start: ContainerCreating"):
        cluster_harness.driver.container_log("payments-dev", "api-new", "api")


@pytest.mark.parametrize(("tail_lines", "limit_bytes"), [(0, 1024), (5001, 1024), (10, 0), (10, 2 * 1024 * 1024)])
def test_a_log_read_is_bounded_whatever_the_caller_asks(
    cluster_harness: ClusterHarness, tail_lines: int, limit_bytes: int
) -> None:
    a_workload_with_neighbours(cluster_harness)

    with pytest.raises(InvalidRequest):
        cluster_harness.driver.container_log(
            "payments-dev", "api-5d8f-aaaaa", "api", tail_lines=tail_lines, limit_bytes=limit_bytes
        )
