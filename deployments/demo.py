"""Demo deployments: a service catalogue over the spec's namespace groups, workloads in a staging and a
production environment and in two regions' base namespaces, deployments whose versions drift between
staging and production (one failing, one canary half-way), pipeline runs with their stages, and two
workloads nobody has claimed.

Written straight with the ORM (demo only; deployments through
:func:`deployments.services.record_deployment`). Safe to run twice: services,
environments and workloads are keyed on their natural keys, and a service's
deployments are recorded only when it has none yet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from access.models import Team, Tier, User
from deployments.choices import (
    CiProvider,
    DeploymentSource,
    DeploymentStatus,
    Health,
    RunStatus,
    ServiceMatch,
    SmokeTest,
    StageKind,
    Strategy,
    WorkloadKind,
)
from deployments.demo_pods import live_objects
from deployments.models import Deployment, PipelineRun, Service, WebhookSource, Workload
from deployments.services import Target, record_deployment
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster, Namespace

REGISTRY = "registry.example.com/lms"
ENVIRONMENT_CLUSTER = "eks-eu-west-1"
# Base namespaces (no environment) of these clusters run the regional production copies.
REGIONAL_CLUSTERS = ["eks-ap-southeast-2", "aks-eastus"]


@dataclass(frozen=True)
class DemoService:
    slug: str
    name: str
    team: str
    group: str
    production: str
    staging: str
    kind: str = WorkloadKind.DEPLOYMENT
    extra: tuple[tuple[str, str], ...] = ()
    # Regional clusters running an older version than production (drift), and ones it does not run in.
    lagging: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    description: str = ""
    # Whether it has a runbook and an on-call schedule (the scorecards' rules look for both).
    runbook: bool = True
    oncall: bool = True


SERVICES = [
    DemoService(
        "api-gateway",
        "API gateway",
        "core-platform",
        "core-services",
        "2.14.0",
        "2.15.0",
        description="Routes every request of the LMS to its service.",
    ),
    DemoService(
        "identity",
        "Identity",
        "core-platform",
        "core-services",
        "3.2.1",
        "3.2.1",
        extra=((WorkloadKind.STATEFUL_SET, "identity-cache"),),
        description="Sign-in, sessions and tokens.",
    ),
    DemoService(
        "notifications",
        "Notifications",
        "core-platform",
        "core-services",
        "1.8.3",
        "1.9.0",
        extra=((WorkloadKind.CRON_JOB, "notifications-digest"),),
        lagging={"aks-eastus": "1.8.1"},
    ),
    DemoService(
        "student-portal",
        "Student portal",
        "student-experience",
        "student-services",
        "4.6.0",
        "4.7.0-rc.1",
        description="What students see: courses, lessons, progress.",
    ),
    DemoService("enrolment", "Enrolment", "student-experience", "student-services", "2.3.0", "2.3.0", oncall=False),
    DemoService(
        "assessments",
        "Assessments",
        "student-experience",
        "student-services",
        "1.12.2",
        "1.13.0",
        extra=((WorkloadKind.CRON_JOB, "assessments-grader"),),
        lagging={"eks-ap-southeast-2": "1.12.0"},
    ),
    DemoService("class-scheduler", "Class scheduler", "tutor-tools", "tutor-services", "5.0.4", "5.1.0"),
    DemoService(
        "tutor-dashboard", "Tutor dashboard", "tutor-tools", "tutor-services", "0.9.7", "0.9.7", absent=("aks-eastus",)
    ),
    DemoService("admin-console", "Admin console", "admin-apps", "admin-services", "3.4.0", "3.5.0"),
    DemoService(
        "reporting",
        "Reporting",
        "data-analytics",
        "analytics",
        "2.0.1",
        "2.1.0",
        extra=((WorkloadKind.CRON_JOB, "reporting-nightly"),),
        absent=("eks-ap-southeast-2", "aks-eastus"),
        runbook=False,
    ),
    DemoService(
        "log-shipper",
        "Log shipper",
        "core-platform",
        "monitoring",
        "1.3.0",
        "1.3.0",
        kind=WorkloadKind.DAEMON_SET,
        oncall=False,
    ),
]

# (cluster, namespace, kind, name): running, labelled for no service in the catalogue.
UNMATCHED = [
    (ENVIRONMENT_CLUSTER, "admin-services", WorkloadKind.CRON_JOB, "legacy-invoice-export", "0.4.2"),
    ("eks-ap-southeast-2", "student-services", WorkloadKind.DEPLOYMENT, "debug-toolbox", "latest"),
]

# (name, template, tier, monthly estimate in USD)
ENVIRONMENTS = [
    ("staging", "staging", Tier.STAGING, Decimal(900)),
    ("production", "production", Tier.PRODUCTION, Decimal(4000)),
]


def load_demo_deployments() -> None:
    """Load the demo catalogue, workloads, deployments and runs (needs the teams, clusters and templates)."""
    teams = {team.slug: team for team in Team.objects.filter(slug__in={service.team for service in SERVICES})}
    clusters = {
        cluster.name: cluster
        for cluster in Cluster.objects.filter(name__in=[ENVIRONMENT_CLUSTER, *REGIONAL_CLUSTERS]).select_related(
            "region"
        )
    }
    admin = User.objects.filter(username="admin").first()
    if len(teams) < len({service.team for service in SERVICES}) or len(clusters) < 3 or admin is None:
        return  # not the demo platform
    services = {
        demo.slug: Service.objects.update_or_create(
            slug=demo.slug,
            defaults={
                "name": demo.name,
                "team": teams[demo.team],
                "namespace_group": demo.group,
                "description": demo.description,
                "repository_url": f"https://github.com/example-lms/{demo.slug}",
                "links": [{"label": "Dashboard", "url": f"https://grafana.example.com/d/{demo.slug}"}],
                "runbook_url": f"https://wiki.example.com/runbooks/{demo.slug}" if demo.runbook else "",
                "oncall_url": f"https://example.pagerduty.com/schedules/{demo.slug}" if demo.oncall else "",
            },
        )[0]
        for demo in SERVICES
    }
    environments = _environments(clusters[ENVIRONMENT_CLUSTER], teams["core-platform"], admin)
    now = timezone.now().replace(microsecond=0)
    _workloads(services, environments, clusters, now)
    if not Deployment.objects.filter(service__in=services.values()).exists():
        _deployments(services, environments, clusters, now)


def _environments(cluster: Cluster, team: Team, admin: User) -> dict[str, Environment]:
    found: dict[str, Environment] = {}
    for name, template_slug, tier, estimate in ENVIRONMENTS:
        environment = Environment.objects.live().filter(team=team, name=name).first()
        if environment is None:
            environment = Environment.objects.create(
                name=name,
                team=team,
                template=EnvironmentTemplate.objects.get(slug=template_slug),
                tier=tier,
                cluster=cluster,
                requested_by=admin,
                status=EnvironmentStatus.READY,
                monthly_estimate=estimate,
                currency="USD",
            )
        found[tier] = environment
    return found


def _image(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}:{version}"


def _workload(
    *,
    cluster: Cluster,
    namespace: str,
    kind: str,
    name: str,
    version: str,
    now: datetime,
    rolled_out: timedelta,
    service: Service | None = None,
    environment: Environment | None = None,
    team: Team | None = None,
    health: str = Health.HEALTHY,
    ready: int | None = None,
) -> Workload:
    desired = 1 if kind == WorkloadKind.CRON_JOB else 3
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/version": version}
    if service is not None:
        labels["app.kubernetes.io/part-of"] = service.slug
    return Workload(
        cluster=cluster,
        namespace=namespace,
        kind=kind,
        name=name,
        service=service,
        service_match=ServiceMatch.LABEL if service is not None else "",
        environment=environment,
        team=service.team if service is not None else team,
        tier=environment.tier if environment is not None else "",
        images=[_image(name, version)],
        version=version,
        revision=4,
        replicas_desired=desired,
        replicas_ready=desired if ready is None else ready,
        labels=labels,
        health=health,
        rolled_out_at=now - rolled_out,
        first_seen_at=now - timedelta(days=30),
        last_seen_at=now,
    )


def _workloads(
    services: dict[str, Service], environments: dict[str, Environment], clusters: dict[str, Cluster], now: datetime
) -> None:
    rows: list[Workload] = []
    for demo in SERVICES:
        service = services[demo.slug]
        names = [(demo.kind, demo.slug), *demo.extra]
        for tier, version, age in ((Tier.STAGING, demo.staging, 1), (Tier.PRODUCTION, demo.production, 3)):
            environment = environments[tier]
            health, ready = Health.HEALTHY, None
            if demo.slug == "student-portal" and tier == Tier.STAGING:
                health, ready = Health.DEGRADED, 1
            if demo.slug == "api-gateway" and tier == Tier.PRODUCTION:
                health = Health.PROGRESSING
            rows += [
                _workload(
                    cluster=environment.cluster,
                    namespace=f"{environment.name}-{demo.group}",
                    kind=kind,
                    name=name,
                    version=version,
                    now=now,
                    rolled_out=timedelta(days=age, hours=len(name)),
                    service=service,
                    environment=environment,
                    health=health,
                    ready=ready,
                )
                for kind, name in names
            ]
        for cluster_name in REGIONAL_CLUSTERS:
            if cluster_name in demo.absent:
                continue
            version = demo.lagging.get(cluster_name, demo.production)
            rows += [
                _workload(
                    cluster=clusters[cluster_name],
                    namespace=demo.group,
                    kind=kind,
                    name=name,
                    version=version,
                    now=now,
                    rolled_out=timedelta(days=12 if cluster_name in demo.lagging else 4, hours=len(name)),
                    service=service,
                )
                for kind, name in names
            ]
    namespace_teams = {
        (namespace.cluster.name, namespace.name): namespace.team
        for namespace in Namespace.objects.filter(cluster__in=clusters.values()).select_related("cluster", "team")
    }
    rows += [
        _workload(
            cluster=clusters[cluster_name],
            namespace=namespace,
            kind=kind,
            name=name,
            version=version,
            now=now,
            rolled_out=timedelta(days=40),
            team=namespace_teams.get((cluster_name, namespace)),
            health=Health.UNKNOWN,
        )
        for cluster_name, namespace, kind, name, version in UNMATCHED
    ]
    Workload.objects.bulk_create(rows, ignore_conflicts=True)


def _stages(started: datetime, *, failed_at: str = "", findings: bool = True) -> list[dict[str, Any]]:
    stages = []
    at = started
    failed = False
    for kind, name, minutes in (
        (StageKind.BUILD, "Build and push image", 4),
        (StageKind.SECURITY, "Trivy and dependency scan", 2),
        (StageKind.DEPLOY, "Deploy", 3),
        (StageKind.POST_DEPLOY, "Smoke tests", 2),
    ):
        if failed:
            stages.append({"name": name, "kind": kind, "status": RunStatus.SKIPPED})
            continue
        status = RunStatus.FAILED if kind == failed_at else RunStatus.SUCCEEDED
        failed = status == RunStatus.FAILED
        end = at + timedelta(minutes=minutes, seconds=17)
        stages.append(
            {"name": name, "kind": kind, "status": status, "started_at": at.isoformat(), "finished_at": end.isoformat()}
        )
        at = end
    return stages


def _run(
    source: WebhookSource,
    service: Service,
    environment: Environment,
    *,
    number: int,
    version: str,
    started: datetime,
    failed_at: str = "",
) -> PipelineRun:
    stages = _stages(started, failed_at=failed_at)
    finished = datetime.fromisoformat(next(s["finished_at"] for s in reversed(stages) if "finished_at" in s))
    run, _ = PipelineRun.objects.update_or_create(
        source=source,
        external_id=f"{service.slug}-{number}-1",
        defaults={
            "provider": source.provider,
            "service": service,
            "environment": environment,
            "cluster": environment.cluster,
            "team": service.team,
            "tier": environment.tier,
            "name": f"{service.slug} release",
            "url": f"https://github.com/example-lms/{service.slug}/actions/runs/{number}",
            "status": RunStatus.FAILED if failed_at else RunStatus.SUCCEEDED,
            "stages": stages,
            "security": {"critical": 0, "high": 1 if failed_at else 0, "medium": 3, "low": 7},
            "commit_sha": f"{number:07x}c0ffee{len(service.slug):02d}",
            "commit_at": started - timedelta(hours=2),
            "branch": "main",
            "image_tag": version,
            "triggered_by": "dev.patel" if service.team.slug == "student-experience" else "ada.nakamura",
            "started_at": started,
            "finished_at": finished,
        },
    )
    return run


def _deployments(
    services: dict[str, Service], environments: dict[str, Environment], clusters: dict[str, Cluster], now: datetime
) -> None:
    source, _ = WebhookSource.objects.get_or_create(
        name="demo-github-actions",
        defaults={
            "provider": CiProvider.GITHUB,
            "secret": "demo-only-opens-nothing",  # the demo's; it guards no real endpoint
            "team": services["api-gateway"].team,
        },
    )
    # The organisation's one CI system builds every team's services: the list a platform admin sets
    # lets it write to them (a source writes only to its own team's services otherwise).
    source.services.set(list(services.values()))
    workloads = {
        (workload.cluster_id, workload.namespace, workload.name): workload
        for workload in Workload.objects.filter(service__in=services.values())
    }
    for number, demo in enumerate(SERVICES, start=100):
        service = services[demo.slug]
        production, staging = environments[Tier.PRODUCTION], environments[Tier.STAGING]
        # Production: an older release ten days ago, then the current one.
        for version, days, extra in (
            (_older(demo.production), 10, {}),
            (demo.production, 3, _production_extra(demo)),
        ):
            status = extra.pop("status", DeploymentStatus.SUCCEEDED)
            record_deployment(
                Target(service=service, environment=production),
                version=version,
                source=DeploymentSource.PIPELINE,
                started_at=now - timedelta(days=days),
                status=status,
                finished_at=None
                if status == DeploymentStatus.IN_PROGRESS
                else now - timedelta(days=days) + timedelta(minutes=9),
                images=[_image(demo.slug, version)],
                commit_sha=f"{days:02d}{number:05x}beef",
                commit_at=now - timedelta(days=days, hours=3),
                triggered_by="ada.nakamura",
                **extra,
            )
        # Staging: the next release, with its pipeline run (the student portal's fails its smoke tests).
        failing = demo.slug == "student-portal"
        started = now - timedelta(days=1, hours=2)
        run = _run(
            source,
            service,
            staging,
            number=number,
            version=demo.staging,
            started=started,
            failed_at=StageKind.POST_DEPLOY if failing else "",
        )
        record_deployment(
            Target(service=service, environment=staging),
            version=demo.staging,
            source=DeploymentSource.PIPELINE,
            started_at=started + timedelta(minutes=6),
            status=DeploymentStatus.FAILED if failing else DeploymentStatus.SUCCEEDED,
            finished_at=started + timedelta(minutes=11),
            images=[_image(demo.slug, demo.staging), *[_image(name, demo.staging) for _, name in demo.extra]],
            commit_sha=run.commit_sha,
            commit_at=run.commit_at,
            pipeline_run=run,
            triggered_by=run.triggered_by,
            smoke_test=SmokeTest.FAILED if failing else SmokeTest.PASSED,
        )
        # Regions: what the cluster sync saw roll out in the base namespaces.
        for cluster_name in REGIONAL_CLUSTERS:
            if cluster_name in demo.absent:
                continue
            cluster = clusters[cluster_name]
            version = demo.lagging.get(cluster_name, demo.production)
            days = 12 if cluster_name in demo.lagging else 4
            record_deployment(
                Target(
                    service=service,
                    cluster=cluster,
                    namespace=demo.group,
                    workload=workloads.get((cluster.pk, demo.group, demo.slug)),
                ),
                version=version,
                source=DeploymentSource.CLUSTER,
                started_at=now - timedelta(days=days),
                status=DeploymentStatus.SUCCEEDED,
                finished_at=now - timedelta(days=days) + timedelta(minutes=4),
                images=[_image(demo.slug, version)],
                revision=4,
            )


def _older(version: str) -> str:
    """The release before ``version`` (a patch down, else a minor down)."""
    major, minor, patch = [*version.split("-")[0].split("."), "0", "0"][:3]
    if int(patch) > 0:
        return f"{major}.{minor}.{int(patch) - 1}"
    return f"{major}.{max(int(minor) - 1, 0)}.0"


def _production_extra(demo: DemoService) -> dict[str, Any]:
    if demo.slug == "api-gateway":  # a canary half-way through
        return {
            "status": DeploymentStatus.IN_PROGRESS,
            "strategy": Strategy.CANARY,
            "progress": {"step": 2, "steps": 4, "weight": 50},
        }
    if demo.slug == "identity":
        return {"strategy": Strategy.BLUE_GREEN, "progress": {"step": 2, "steps": 2, "weight": 100}}
    return {}


def remove_demo_environments() -> None:
    """Delete the demo's staging and production environments (their workloads and deployments stay,
    in no environment), for tests that count environments from a clean slate."""
    names = [name for name, *_ in ENVIRONMENTS]
    Environment.objects.filter(team__slug="core-platform", name__in=names, requested_by__username="admin").delete()


def seed_demo_clusters() -> int:
    """Write the demo's workloads into the sandbox clusters they run on, as their controllers would have.

    Called by ``manage.py load_demo`` (``make run``), not by the tests'
    demo: the scheduled sync then finds what the matrix shows (instead of
    marking it all gone), and a Deployment can be rolled back to the release
    before it. Each workload's pods, recent events and container logs go
    with it (:mod:`deployments.demo_pods`), for its Kubernetes panel. Clusters
    not driven by the sandbox are left alone. Returns how many workloads were
    written.
    """
    written = 0
    now = timezone.now().replace(microsecond=0)
    by_cluster: dict[int, list[Workload]] = {}
    workloads_now = Workload.objects.filter(gone_at__isnull=True).select_related("cluster__region__account", "service")
    for workload in workloads_now:
        by_cluster.setdefault(workload.cluster_id, []).append(workload)
    for workloads in by_cluster.values():
        driver = cluster_driver_for(workloads[0].cluster)
        if not isinstance(driver, SandboxClusterDriver):
            continue
        manifests: list[dict[str, Any]] = []
        logs: list[tuple[str, str, str, str, bool]] = []
        for namespace in sorted({workload.namespace for workload in workloads}):
            manifests.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for workload in workloads:
            manifests += _manifests(workload)
            live, logged = live_objects(workload, now)
            manifests += live
            logs += logged
        driver.seed_many(manifests)
        driver.seed_logs(logs)
        written += len(workloads)
    return written


def _template(workload: Workload, image: str) -> dict[str, Any]:
    # The version label goes on the pod template, as a rollback changes the template and not the metadata.
    labels = {"app": workload.name, "app.kubernetes.io/version": image.rsplit(":", 1)[-1]}
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": workload.name, "image": image}]}}


def _manifests(workload: Workload) -> list[dict[str, Any]]:
    """The workload's object (with its status) and, for a Deployment, a ReplicaSet per revision kept."""
    image = workload.images[0] if workload.images else _image(workload.name, workload.version)
    labels = {key: value for key, value in workload.labels.items() if key != "app.kubernetes.io/version"}
    metadata: dict[str, Any] = {"name": workload.name, "namespace": workload.namespace, "labels": labels}
    ready, desired = workload.replicas_ready, workload.replicas_desired
    condition = {"type": "Available", "status": "True" if ready else "False", "lastUpdateTime": _stamp(workload)}
    selector = {"matchLabels": {"app": workload.name}}
    spec: dict[str, Any]
    status: dict[str, Any]
    if workload.kind == WorkloadKind.CRON_JOB:
        spec = {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": _template(workload, image)}}}
        return [{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec, "status": {}}]
    if workload.kind == WorkloadKind.DAEMON_SET:
        spec = {"selector": selector, "template": _template(workload, image)}
        status = {"desiredNumberScheduled": desired, "numberReady": ready}
        return [{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": spec, "status": status}]
    spec = {"replicas": desired, "selector": selector, "template": _template(workload, image)}
    status = {"readyReplicas": ready, "conditions": [condition]}
    if workload.kind == WorkloadKind.STATEFUL_SET:
        return [{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec, "status": status}]
    revision = workload.revision or 1
    metadata["annotations"] = {"deployment.kubernetes.io/revision": str(revision)}
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec, "status": status}
    ]
    versions = [workload.version]
    with contextlib.suppress(ValueError):  # not a release number ("latest"): no earlier revision to offer
        versions.append(_older(workload.version))
    for offset, version in enumerate(versions):
        number = revision - offset
        template = _template(workload, _image(workload.name, version) if offset else image)
        template["metadata"]["labels"]["pod-template-hash"] = f"r{number}"
        manifests.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{workload.name}-r{number}",
                    "namespace": workload.namespace,
                    "annotations": {"deployment.kubernetes.io/revision": str(number)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": workload.name,
                            "uid": f"uid-{workload.name}",
                            "controller": True,
                        }
                    ],
                },
                "spec": {"replicas": 0, "selector": selector, "template": template},
            }
        )
    return manifests


def _stamp(workload: Workload) -> str:
    moment = workload.rolled_out_at or timezone.now()
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
