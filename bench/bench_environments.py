"""1,000 environments requested against the sandbox (no latency): throughput, and none lost or duplicated.

Phase 1, requests: ``environment_request`` is called for
``BENCH_ENVIRONMENTS`` (default 1,000; 30 at smoke size) environments of the
``preview`` template (allowed outright: no approval), round-robin over the
demo teams bound to a residency zone (EU, AU, US), with no limits, each by a
member of the team (the developer persona for its own team). Each team's
requests go round-robin over the clusters its residency allows: the ones
where the admission allows the request outright, which together must cover
every kind of cluster the template may run on (EKS, AKS, k3s). Each goes
straight to provisioning and its run is queued. No worker runs yet. Every
tenth request is then submitted again with the same idempotency key and
must give back the same environment. Baseline: the same number of
Environment rows saved one by one with a bare ``save()`` in this process
(the least one request must do), and in one bulk insert (the floor).

Phase 2, provisioning: ``BENCH_WORKERS`` (default 2: the machine has 2 cores)
real Celery worker processes provision them all from the queue phase 1 filled.
Baseline: after the workers stop, a few more environments (a team with no
residency zone, the platform admin's) requested and provisioned by
``engine.advance`` in this process, on the clusters as the workers left them.

Checked (correctness, never time): exactly N environments, each with one
provisioning run, all ready, each on a cluster in its team's zone, no name
twice, and every sandbox cluster holds exactly one namespace per
(environment, template namespace) placed on it, and no other.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from django.db.models import Count, F, Max, Min

from access.models import Membership, Team, User
from bench.report import report, timed
from bench.sizes import size
from environments import admission, selectors, services
from environments.choices import EnvironmentStatus, Size
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from portal.demo import Persona, load_demo, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from workflows import engine
from workflows.models import ACTIVE, Run, Step

ENVIRONMENTS = size("BENCH_ENVIRONMENTS", full=1000, smoke=30)
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
RESUBMIT_EVERY = 10  # every tenth request is submitted twice
IN_PROCESS = min(20, max(5, ENVIRONMENTS // 50))  # phase 2's baseline
# The developer persona's team (its SSO groups add a role-binding step); the other teams bound to a zone
# request through a member of their own.
TEAMS = ("student-experience", "tutor-tools", "admin-apps")
BASELINE_TEAM = "core-platform"  # bound to no zone: its environments may go on any cluster
TEMPLATE = "preview"


def allowed_outright(team: Team, template: EnvironmentTemplate, clusters: list[Cluster]) -> list[Cluster]:
    """The clusters where the admission lets ``team`` have a ``template`` environment with no approval."""
    allowed = []
    for cluster in clusters:
        ttl_hours = template.default_ttl_hours if template.expires else None  # what a request without one gets
        check = selectors.request_check(
            team_id=team.pk, template=template, cluster=cluster, size=Size.SMALL, ttl_hours=ttl_hours
        )
        if check.decision is not None and check.decision.outcome == admission.Outcome.ALLOWED:
            allowed.append(cluster)
    return allowed


class Requester:
    """Requests ``preview`` environments for one team as one of its members, round-robin over its clusters."""

    def __init__(self, user: User, team: Team, template: EnvironmentTemplate, clusters: list[Cluster]) -> None:
        assert clusters, f"{team} may have a {template} environment on no cluster"
        self.user, self.team, self.template, self.clusters = user, team, template, clusters

    def request(self, prefix: str, number: int, turn: int) -> Environment:
        """Environment ``number``, this team's ``turn``-th: on the next of its clusters."""
        return services.environment_request(
            actor=self.user,
            team=self.team,
            template=self.template,
            cluster=self.clusters[turn % len(self.clusters)],
            name=f"{prefix}-{number:05d}",
            idempotency_key=f"{prefix}-request-{number}",
        )

    def bare_row(self, number: int, turn: int) -> Environment:
        """An unsaved row as a request saves it, with nothing checked, estimated, audited or started."""
        return Environment(
            name=f"bare-{number:05d}",
            team=self.team,
            template=self.template,
            tier=self.template.tier,
            cluster=self.clusters[turn % len(self.clusters)],
            requested_by=self.user,
            status=EnvironmentStatus.PROVISIONING,
            monthly_estimate=0,
            currency="USD",
        )


class Teams:
    """Environment ``number`` goes to team ``number % len(requesters)``, on that team's next cluster."""

    def __init__(self, requesters: list[Requester]) -> None:
        self.requesters = requesters

    def _whose(self, number: int) -> tuple[Requester, int]:
        return self.requesters[number % len(self.requesters)], number // len(self.requesters)

    def request(self, prefix: str, number: int) -> Environment:
        requester, turn = self._whose(number)
        return requester.request(prefix, number, turn)

    def bare_rows(self, count: int) -> list[Environment]:
        return [
            requester.bare_row(number, turn) for number in range(count) for requester, turn in [self._whose(number)]
        ]

    @property
    def clusters(self) -> list[Cluster]:
        return list({cluster.pk: cluster for r in self.requesters for cluster in r.clusters}.values())


def member_of(team: Team) -> User:
    """A member of ``team``, who may develop on it through the team's grant (the demo's rule for every team)."""
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    if developer.memberships.filter(team=team).exists():
        return developer
    user, _ = User.objects.get_or_create(username=f"bench-{team.slug}")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.MEMBER})
    return user


def provisioning_runs(environment_ids: list[int]) -> Any:
    return Run.objects.filter(kind=services.PROVISION, subject_id__in=[str(pk) for pk in environment_ids])


def namespaces_held(clusters: list[Cluster]) -> dict[int, list[str]]:
    """The benchmark team's namespaces each sandbox cluster holds."""
    held = {}
    for cluster in clusters:
        driver = cluster_driver_for(cluster)
        assert isinstance(driver, SandboxClusterDriver)
        held[cluster.pk] = [
            name for item in driver.objects("Namespace") if (name := item["metadata"]["name"]).startswith("bench-")
        ]
    return held


def bench_a_thousand_environments_requested_and_provisioned(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the workers' sandbox is the same directory
    settings.SANDBOX_LATENCY_SECONDS = 0
    teams, baseline_team = list(Team.objects.filter(slug__in=TEAMS)), Team.objects.get(slug=BASELINE_TEAM)
    TeamLimits.objects.filter(team__in=[*teams, baseline_team]).delete()  # no cap: every request goes ahead
    template = EnvironmentTemplate.objects.get(slug=TEMPLATE)
    requesters = []
    for team in teams:
        user = member_of(team)
        visible = list(selectors.request_clusters(user=user, template=template))
        requesters.append(Requester(user, team, template, allowed_outright(team, template, visible)))
    requester = Teams(requesters)
    clusters = requester.clusters
    admin = User.objects.get(username=username_of(Persona.PLATFORM_ADMIN))
    every_kind = {cluster.kind for cluster in selectors.request_clusters(user=admin, template=template)}
    assert {cluster.kind for cluster in clusters} == every_kind, "a kind of cluster is not benchmarked"
    baseline_requester = Requester(admin, baseline_team, template, clusters)

    # --- phase 1: requests, no worker yet ---------------------------------------------------
    bare = Environment.objects.filter(name__startswith="bare-")
    with timed() as one_by_one:
        for row in requester.bare_rows(ENVIRONMENTS):
            row.save()
    bare.delete()
    with timed() as bulk:
        Environment.objects.bulk_create(requester.bare_rows(ENVIRONMENTS))
    bare.delete()

    tenth = max(1, ENVIRONMENTS // 10)
    ids: list[int] = []
    with timed() as requesting:
        with timed() as first_tenth:
            ids += [requester.request("bench", number).pk for number in range(tenth)]
        ids += [requester.request("bench", number).pk for number in range(tenth, ENVIRONMENTS - tenth)]
        with timed() as last_tenth:
            ids += [requester.request("bench", number).pk for number in range(ENVIRONMENTS - tenth, ENVIRONMENTS)]
    resubmitted = range(0, ENVIRONMENTS, RESUBMIT_EVERY)
    with timed() as resubmitting:
        again = {number: requester.request("bench", number).pk for number in resubmitted}
    assert all(again[number] == ids[number] for number in again), "a double submit made a second environment"
    environments = Environment.objects.filter(name__startswith="bench-")
    assert environments.count() == ENVIRONMENTS
    assert set(environments.values_list("status", flat=True)) == {EnvironmentStatus.PROVISIONING}

    # --- phase 2: provisioning by real workers ----------------------------------------------
    runs = provisioning_runs(ids)
    assert runs.count() == ENVIRONMENTS, "a request started no run, or two"
    workers = []
    with timed() as provisioning:
        for _ in range(WORKERS):
            env = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_SANDBOX_LATENCY_SECONDS": "0"}
            workers.append(start_celery_worker(env=env))
        wait_until(
            lambda: not runs.filter(status__in=ACTIVE).exists(),
            timeout=max(900, 3 * ENVIRONMENTS),
            interval=0.5,
        )
    for worker in workers:  # the baseline runs in this process alone
        worker.terminate()
        worker.wait(30)

    baseline_ids = [baseline_requester.request("baseline", number, number).pk for number in range(IN_PROCESS)]
    with timed() as in_process:
        for run_id in provisioning_runs(baseline_ids).values_list("pk", flat=True):
            engine.advance(run_id)
    assert set(Environment.objects.filter(pk__in=baseline_ids).values_list("status", flat=True)) == {
        EnvironmentStatus.READY
    }

    # --- nothing lost, nothing duplicated ---------------------------------------------------
    statuses = dict(environments.order_by().values_list("status").annotate(count=Count("pk")))
    print(f"\n   environments by status: {statuses}")
    assert statuses == {EnvironmentStatus.READY: ENVIRONMENTS}
    twice = [name for name, count in Counter(environments.values_list("name", flat=True)).items() if count > 1]
    assert twice == [], "a name was given twice"
    outside = environments.exclude(cluster__region__residency_zone=F("team__residency_zone"))
    assert not outside.exists(), "an environment was placed outside its team's residency zone"
    expected: dict[int, list[str]] = {cluster.pk: [] for cluster in clusters}
    for name, cluster_id in environments.values_list("name", "cluster_id"):
        expected[cluster_id] += [f"{name}-{namespace}" for namespace in template.namespaces]
    held = namespaces_held(clusters)
    for cluster in clusters:
        assert sorted(held[cluster.pk]) == sorted(expected[cluster.pk]), f"lost or duplicated on {cluster}"
    print(f"   namespaces held: {sum(map(len, held.values()))} on {len(clusters)} sandbox clusters, one each")

    steps = Step.objects.filter(run__in=runs).aggregate(
        count=Count("pk"), first=Min("started_at"), last=Max("finished_at")
    )
    baseline_steps = Step.objects.filter(run__in=provisioning_runs(baseline_ids)).count()
    busy = (steps["last"] - steps["first"]).total_seconds()
    per_environment_workers = provisioning.seconds / ENVIRONMENTS
    per_environment_here = in_process.seconds / IN_PROCESS
    ratio = per_environment_workers / per_environment_here
    report(
        f"{ENVIRONMENTS} environment requests ({TEMPLATE}, {len(teams)} teams, {len(clusters)} sandbox clusters, "
        "no latency)",
        [
            ("requests a second", f"{ENVIRONMENTS / requesting.seconds:.1f}"),
            ("ratio last tenth / first tenth (the teams grow)", f"{last_tenth.seconds / first_tenth.seconds:.2f}x"),
            ("same-key re-submits a second", f"{len(again) / resubmitting.seconds:.1f} ({len(again)}, none created)"),
            ("baseline: bare rows saved a second", f"{ENVIRONMENTS / one_by_one.seconds:.1f}"),
            ("baseline: rows bulk-inserted a second", f"{ENVIRONMENTS / bulk.seconds:.1f}"),
            ("ratio request / bare row saved", f"{requesting.seconds / one_by_one.seconds:.1f}x"),
            ("ratio request / row bulk-inserted", f"{requesting.seconds / bulk.seconds:.1f}x"),
        ],
    )
    report(
        f"provisioning by {WORKERS} Celery worker process(es), {steps['count']} steps",
        [
            ("environments a second (workers, from their start)", f"{ENVIRONMENTS / provisioning.seconds:.2f}"),
            ("steps a second (workers, from their start)", f"{steps['count'] / provisioning.seconds:.1f}"),
            ("environments a second (first step to last)", f"{ENVIRONMENTS / busy:.2f}"),
            (f"environments a second (in-process, {IN_PROCESS})", f"{1 / per_environment_here:.2f}"),
            ("steps a second (in-process)", f"{baseline_steps / in_process.seconds:.1f}"),
            ("ratio workers / in-process, time an environment", f"{ratio:.2f}x"),
            ("wall time, requests + provisioning", f"{requesting.seconds + provisioning.seconds:.0f} s"),
        ],
    )
