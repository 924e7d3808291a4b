"""1,000 environments requested against the sandbox (no latency): throughput, and none lost or duplicated.

Phase 1, requests: the developer persona calls ``environment_request`` for
``BENCH_ENVIRONMENTS`` (default 1,000) environments of the ``preview``
template (allowed outright: no approval), for a team without limits, spread
over every cluster the template may run on. Every tenth request is submitted
again with the same idempotency key and must give back the same environment.
Baseline: the same number of Environment rows saved one by one with a bare
``Environment.objects.create`` in this process (what one request must do at
the least), and with one bulk insert (the floor).

Phase 2, provisioning: real Celery worker processes (``BENCH_WORKERS``,
default 2: the machine has 2 cores) provision them all, from the queue
phase 1 filled. Baseline: a few of the same environments provisioned by
``engine.advance`` in this process before the workers start.

Checked (correctness, not time): exactly N environments for the team, all
ready, no name twice, and each sandbox cluster holds exactly one namespace per
(environment, template namespace) and none other of the team's.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Count, Max, Min

from access.models import Team, User
from bench.report import report, timed
from environments import selectors, services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from portal.demo import Persona, load_demo, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.conftest import WorkerFactory
from tests.helpers import wait_until
from workflows import engine
from workflows.models import Run, Step

ENVIRONMENTS = int(os.environ.get("BENCH_ENVIRONMENTS", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
RESUBMIT_EVERY = 10  # every tenth request is submitted twice
IN_PROCESS_SAMPLE = max(1, min(20, ENVIRONMENTS // 50))  # provisioned here, as phase 2's baseline
TEAM = "student-experience"
TEMPLATE = "preview"


def environment_name(number: int) -> str:
    return f"bench-{number:05d}"


def idempotency_key(number: int) -> str:
    return f"bench-request-{number}"


def baseline_rows(team: Team, template: EnvironmentTemplate, clusters: list[Cluster], developer: User) -> list[Any]:
    """Unsaved Environment rows as the requests make them (in another team's name space)."""
    return [
        Environment(
            name=f"baseline-{number:05d}",
            team=team,
            template=template,
            tier=template.tier,
            cluster=clusters[number % len(clusters)],
            requested_by=developer,
            status=EnvironmentStatus.PROVISIONING,
            monthly_estimate=0,
            currency="USD",
        )
        for number in range(ENVIRONMENTS)
    ]


def request_all(developer: User, team: Team, template: EnvironmentTemplate, clusters: list[Cluster]) -> list[int]:
    ids = []
    for number in range(ENVIRONMENTS):
        environment = services.environment_request(
            actor=developer,
            team=team,
            template=template,
            cluster=clusters[number % len(clusters)],
            name=environment_name(number),
            idempotency_key=idempotency_key(number),
        )
        assert environment.status == EnvironmentStatus.PROVISIONING, (environment.name, environment.status)
        ids.append(environment.pk)
    return ids


def resubmit_sample(developer: User, team: Team, template: EnvironmentTemplate, clusters: list[Cluster]) -> dict[int, int]:
    """Request again every tenth environment with its key: number -> the id that came back."""
    return {
        number: services.environment_request(
            actor=developer,
            team=team,
            template=template,
            cluster=clusters[number % len(clusters)],
            name=environment_name(number),
            idempotency_key=idempotency_key(number),
        ).pk
        for number in range(0, ENVIRONMENTS, RESUBMIT_EVERY)
    }


def namespaces_by_cluster(clusters: list[Cluster]) -> dict[int, list[str]]:
    """The bench's namespaces each sandbox cluster holds."""
    held = {}
    for cluster in clusters:
        driver = cluster_driver_for(cluster)
        assert isinstance(driver, SandboxClusterDriver)
        names = [item["metadata"]["name"] for item in driver.objects("Namespace")]
        held[cluster.pk] = [name for name in names if name.startswith("bench-")]
    return held


def bench_a_thousand_environments_requested_and_provisioned(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the workers' sandbox is the same directory
    settings.SANDBOX_LATENCY_SECONDS = 0
    team = Team.objects.get(slug=TEAM)
    TeamLimits.objects.filter(team=team).delete()  # no cap on count, cost or budget: every request goes ahead
    template = EnvironmentTemplate.objects.get(slug=TEMPLATE)
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    clusters = list(selectors.request_clusters(user=developer, template=template))
    assert clusters

    # --- phase 1: requests ------------------------------------------------------------------
    other_team = Team.objects.get(slug="tutor-tools")
    with timed() as one_by_one:
        for row in baseline_rows(other_team, template, clusters, developer):
            row.save()
    Environment.objects.filter(team=other_team).delete()
    with timed() as bulk:
        Environment.objects.bulk_create(baseline_rows(other_team, template, clusters, developer))
    Environment.objects.filter(team=other_team).delete()

    with timed() as requesting:
        ids = request_all(developer, team, template, clusters)
    with timed() as resubmitting:
        again = resubmit_sample(developer, team, template, clusters)
    assert all(again[number] == ids[number] for number in again), "a double submit made a second environment"
    assert Environment.objects.filter(team=team).count() == ENVIRONMENTS

    # --- phase 2: provisioning --------------------------------------------------------------
    runs = Run.objects.filter(kind=services.PROVISION, subject_id__in=[str(pk) for pk in ids])
    assert runs.count() == ENVIRONMENTS
    sample = list(runs.order_by("pk").values_list("pk", flat=True)[:IN_PROCESS_SAMPLE])
    with timed() as in_process:
        for run_id in sample:
            engine.advance(run_id)
    environments = Environment.objects.filter(team=team)

    with timed() as provisioning:
        for number in range(WORKERS):
            start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_SANDBOX_LATENCY_SECONDS": "0"})
        wait_until(
            lambda: not runs.filter(status__in=engine.ACTIVE).exists(),
            timeout=max(600, ENVIRONMENTS * 3),
            interval=0.5,
        )

    # --- correctness ------------------------------------------------------------------------
    statuses = dict(environments.values_list("status").annotate(count=Count("pk")).values_list("status", "count"))
    print(f"\n   environments by status: {statuses}")
    assert statuses == {EnvironmentStatus.READY: ENVIRONMENTS}
    names = Counter(environments.values_list("name", flat=True))
    assert len(names) == ENVIRONMENTS and max(names.values()) == 1, "a name was given twice"
    held = namespaces_by_cluster(clusters)
    expected: dict[int, list[str]] = {cluster.pk: [] for cluster in clusters}
    for environment in environments:
        expected[environment.cluster_id] += [f"{environment.name}-{namespace}" for namespace in template.namespaces]
    for cluster in clusters:
        assert sorted(held[cluster.pk]) == sorted(expected[cluster.pk]), f"lost or duplicated on {cluster}"
    worker_steps = Step.objects.filter(run__in=runs.exclude(pk__in=sample))
    span = worker_steps.aggregate(count=Count("pk"), first=Min("started_at"), last=Max("finished_at"))
    worker_seconds = (span["last"] - span["first"]).total_seconds()

    per_request = requesting.seconds / ENVIRONMENTS
    by_worker = ENVIRONMENTS - len(sample)
    per_environment_here = in_process.seconds / len(sample)
    per_environment_workers = provisioning.seconds / by_worker
    report(
        f"{ENVIRONMENTS} environments ({TEMPLATE}, {len(clusters)} sandbox clusters, no latency)",
        [
            ("requests a second", f"{1 / per_request:.1f} ({1000 * per_request:.1f} ms each)"),
            ("same-key re-submits a second", f"{len(again) / resubmitting.seconds:.1f} ({len(again)} re-submits)"),
            ("baseline: rows saved one by one", f"{ENVIRONMENTS / one_by_one.seconds:.1f} a second"),
            ("baseline: one bulk insert", f"{ENVIRONMENTS / bulk.seconds:.1f} rows a second"),
            ("ratio request / row saved", f"{requesting.seconds / one_by_one.seconds:.1f}x"),
            ("ratio request / bulk-inserted row", f"{requesting.seconds / bulk.seconds:.1f}x"),
        ],
    )
    report(
        f"provisioning by {WORKERS} Celery worker process(es), {span['count']} steps",
        [
            ("environments a second (workers, wall)", f"{by_worker / provisioning.seconds:.2f}"),
            ("steps a second (workers, wall)", f"{span['count'] / provisioning.seconds:.1f}"),
            ("environments a second (first step to last)", f"{by_worker / worker_seconds:.2f}"),
            (f"environments a second (in-process, {len(sample)})", f"{1 / per_environment_here:.2f}"),
            ("ratio workers / in-process time an environment", f"{per_environment_workers / per_environment_here:.2f}x"),
            ("wall time, requests + provisioning", f"{requesting.seconds + provisioning.seconds:.0f} s"),
        ],
    )
