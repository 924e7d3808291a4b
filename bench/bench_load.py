"""The main pages under load, as an operator sees them: gunicorn with the production settings, 20 clients at once.

Data, on top of the demo: 5,000 environments of 25 teams, 310 services, 3,000 workloads, 7,800
deployments over four months, and four months of daily cost rollups (about 400,000 rows); a
few dozen of each at smoke size (``BENCH_LOAD_*`` variables below set each count).

Server: the Dockerfile's gunicorn command with the production settings on the test database
(tests/production.py, as tests/test_production.py starts it), with the access log going to a
file. Its gunicorn options can be changed per run: ``BENCH_LOAD_SERVERS`` holds one or more
sets of options separated by ``;`` (``;--worker-class gthread --threads 4``: the image's own, and
threaded workers), each put in place of the image's values of the same flags, and each part below runs once for
each set, each with a server of its own, on the same data. The platform admin signs in through the sign-in form.

Pages: each page is asked ``BENCH_LOAD_REQUESTS`` times by 20 clients at once (closed loop: a
client asks again as soon as it has its answer); p50 and p95 latency, the ratio of its p50 to
the baseline's p50, and the requests per second. The baseline is the API's root, ``/api/``:
the lightest page that needs a signed-in user (a short JSON list of links, no query of its
own), through the same middleware, session and authentication as every page here.

The knee: the pages in turn, started at a fixed rate whatever the answers (open loop), at
rising rates (``BENCH_LOAD_RATES``, ``BENCH_LOAD_SECONDS`` at each). A request's latency counts
from when it was due, not when a thread was free to send it, so a client falling behind is
measured rather than hidden. Each request carries ``X-Request-Start`` with when it was due, as an
ingress stamps it, so an overloaded server turns away (503, Retry-After) what waited too long. The
knee is the first rate whose p95 is twice the lowest rate's, or that had errors, timeouts or
requests turned away.

The hold: the mix at ``BENCH_LOAD_HOLD_RATE`` (50/s) for ``BENCH_LOAD_HOLD_SECONDS`` (180 s), held
if nothing failed and p95 stayed under twice the lowest rate's. The recovery: the mix at
``BENCH_LOAD_OVERLOAD_RATE`` (100/s) for ``BENCH_LOAD_OVERLOAD_SECONDS`` (20 s), how it was met
(answered, turned away, timed out), then the lowest rate for ``BENCH_LOAD_RECOVERY_SECONDS`` (30 s)
and how many seconds after the overload its requests were answered as fast as before.

Checked (correctness, never time): every answer of the pages part is a 200 with the page's
marker, and every answer of the later parts that came at all is one too (a timeout, a refused
connection or a request turned away under overload is a measurement, reported, not a failure).
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from access.models import Team, User
from bench.report import report, timed
from bench.sizes import FULL, size
from costs.choices import Allocation, ChargeCategory, PricingCategory
from costs.models import CostRollup
from deployments.choices import DeploymentSource, DeploymentStatus
from deployments.models import Deployment, Service, Workload
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import DEMO_PASSWORD, NAMESPACES, Persona, load_demo, username_of
from portal.devstack import free_port, listens, stop
from regions.models import Cluster
from tests.production import ROOT, BehindTheIngress, server_command, server_environment

CLIENTS = 20
ENVIRONMENTS = size("BENCH_LOAD_ENVIRONMENTS", full=5000, smoke=60)
SERVICES = size("BENCH_LOAD_SERVICES", full=310, smoke=12)
WORKLOADS = size("BENCH_LOAD_WORKLOADS", full=3000, smoke=40)
DEPLOYMENTS = size("BENCH_LOAD_DEPLOYMENTS", full=7800, smoke=100)
COST_DAYS = size("BENCH_LOAD_COST_DAYS", full=122, smoke=10)
COST_ROWS_A_DAY = size("BENCH_LOAD_COST_ROWS_A_DAY", full=3300, smoke=30)
REQUESTS = size("BENCH_LOAD_REQUESTS", full=100, smoke=4)
WARM_UP = size("BENCH_LOAD_WARM_UP", full=CLIENTS, smoke=1)  # requests of each page before it is measured
SECONDS_A_RATE = size("BENCH_LOAD_SECONDS", full=10, smoke=1)
RATES = [int(rate) for rate in os.environ.get("BENCH_LOAD_RATES", "10,20,30,40,50,60,70" if FULL else "4").split(",")]
HOLD_RATE = size("BENCH_LOAD_HOLD_RATE", full=50, smoke=4)  # the mix held this long at this rate
HOLD_SECONDS = size("BENCH_LOAD_HOLD_SECONDS", full=180, smoke=2)
OVERLOAD_RATE = size("BENCH_LOAD_OVERLOAD_RATE", full=100, smoke=8)  # then this, well past any knee, ...
OVERLOAD_SECONDS = size("BENCH_LOAD_OVERLOAD_SECONDS", full=20, smoke=1)
RECOVERY_SECONDS = size("BENCH_LOAD_RECOVERY_SECONDS", full=30, smoke=2)  # ... and the lowest rate again
# Full size: the image's own server (3 sync workers) against as many threaded workers of 4 threads each.
SERVERS = [
    shlex.split(options)
    for options in os.environ.get(
        "BENCH_LOAD_SERVERS", ";--worker-class gthread --workers 3 --threads 4" if FULL else "--workers 2"
    ).split(";")
]
TEAMS = 20  # bench teams, beside the demo's five
PAGE_TIMEOUT = 60  # seconds; an answer slower than this in the pages part is a failure
KNEE_TIMEOUT = 10  # seconds; in the knee part, a timeout is counted

BASELINE = "/api/"
TURNED_AWAY = "turned away"  # the server answered 503 with Retry-After at once: it was overloaded


@dataclass(frozen=True)
class Page:
    """A page and a piece of text its answer must hold (its title, or a key of its JSON)."""

    path: str
    marker: str


PAGES = [
    Page("/environments/", "<title>Environments ·"),
    Page("/deployments/", "<title>Deployments ·"),
    Page("/costs/", "<title>Costs ·"),
    Page("/costs/breakdown/?by=team", "<title>Cost breakdown ·"),
    Page("/api/environments/", '"results":'),
    Page("/api/deployments/", '"results":'),
    Page("/api/costs/breakdown/?by=service_name", '"rows":'),
]
BASELINE_PAGE = Page(BASELINE, '"environments":')


# --- data -------------------------------------------------------------------------------------------


def _build() -> dict[str, int]:
    """The data set, in bulk, on top of the demo; the number of rows of each kind."""
    admin = User.objects.get(username=username_of(Persona.PLATFORM_ADMIN))
    Team.objects.bulk_create(Team(slug=f"bench-team-{n:02d}", name=f"Bench team {n:02d}") for n in range(TEAMS))
    teams = list(Team.objects.order_by("slug"))
    clusters = list(Cluster.objects.select_related("region").order_by("pk"))
    templates = list(EnvironmentTemplate.objects.order_by("slug"))
    # Most environments are live; a long tail were torn down or failed, as on a platform that has run a while.
    statuses = [EnvironmentStatus.READY] * 6 + [EnvironmentStatus.TORN_DOWN] * 3 + [EnvironmentStatus.FAILED]
    environments = Environment.objects.bulk_create(
        (
            Environment(
                name=f"bench-{n:05d}",
                team=teams[n % len(teams)],
                template=(template := templates[n % len(templates)]),
                tier=template.tier,
                cluster=clusters[n % len(clusters)],
                requested_by=admin,
                status=statuses[n % len(statuses)],
                monthly_estimate=Decimal(100 + n % 900),
                currency="USD",
            )
            for n in range(ENVIRONMENTS)
        ),
        batch_size=2000,
    )
    live = [environment for environment in environments if environment.status == EnvironmentStatus.READY]
    groups = list(NAMESPACES)
    services = Service.objects.bulk_create(
        Service(
            slug=f"bench-service-{n:03d}",
            name=f"Bench service {n:03d}",
            team=teams[n % len(teams)],
            namespace_group=groups[n % len(groups)],
        )
        for n in range(SERVICES)
    )
    now = timezone.now()
    # A team's services run in that team's environments, side by side: the k-th workload of every service of a
    # team is in the team's k-th live environment (so each pair of service and environment comes once).
    live_of_team: dict[int, list[Environment]] = {}
    for environment in live:
        live_of_team.setdefault(environment.team_id, []).append(environment)
    candidates = (
        Workload(
            cluster=(environment := in_team[n // len(services) % len(in_team)]).cluster,
            namespace=f"{environment.name}-{service.namespace_group}",
            kind="Deployment",
            name=service.slug,
            service=service,
            environment=environment,
            team=service.team,
            tier=environment.tier,
            images=[f"registry.example.com/{service.slug}:1.{n % 40}.0"],
            version=f"1.{n % 40}.0",
            replicas_desired=2,
            replicas_ready=2 if n % 25 else 1,
            health="healthy" if n % 25 else "degraded",
            rolled_out_at=now - timedelta(hours=n % 2000),
            first_seen_at=now - timedelta(days=120),
            last_seen_at=now,
        )
        for n in range(WORKLOADS)
        for service in [services[n % len(services)]]
        for in_team in [live_of_team[service.team_id]]
    )
    # A team with fewer live environments than a service has workloads comes round to the same one: once each.
    unique = {(item.cluster_id, item.namespace, item.kind, item.name): item for item in candidates}
    workloads = Workload.objects.bulk_create(unique.values(), batch_size=2000)
    statuses_of_deployments = [DeploymentStatus.SUCCEEDED] * 17 + [
        DeploymentStatus.FAILED,
        DeploymentStatus.ROLLED_BACK,
    ]
    sources = [DeploymentSource.PIPELINE, DeploymentSource.PIPELINE, DeploymentSource.CLUSTER, DeploymentSource.ARGO_CD]
    four_months = timedelta(days=122).total_seconds()
    Deployment.objects.bulk_create(
        (
            Deployment(
                service=workload.service,
                workload=workload,
                environment=workload.environment,
                cluster=workload.cluster,
                namespace=workload.namespace,
                team=workload.team,
                tier=workload.tier,
                version=f"1.{n % 40}.{n % 7}",
                previous_version=f"1.{n % 40}.{max(0, n % 7 - 1)}",
                images=[f"registry.example.com/{workload.name}:1.{n % 40}.{n % 7}"],
                status=statuses_of_deployments[n % len(statuses_of_deployments)],
                source=sources[n % len(sources)],
                commit_sha=f"{n:040x}",
                triggered_by="ci-bot",
                started_at=(started := now - timedelta(seconds=four_months * n / DEPLOYMENTS)),
                finished_at=started + timedelta(minutes=3),
            )
            for n in range(DEPLOYMENTS)
            for workload in [workloads[n % len(workloads)]]
        ),
        batch_size=2000,
    )
    rollups = _copy_cost_rollups(environments, services, clusters)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by now on a server that took these rows over time
    return {
        "environments": len(environments),
        "services": len(services),
        "workloads": len(workloads),
        "deployments": DEPLOYMENTS,
        "cost rollups": rollups,
    }


SERVICE_NAMES = [
    ("Amazon Elastic Compute Cloud", "Compute"),
    ("Amazon Elastic Kubernetes Service", "Compute"),
    ("Amazon Relational Database Service", "Databases"),
    ("Amazon ElastiCache", "Databases"),
    ("Amazon Simple Storage Service", "Storage"),
    ("Azure Kubernetes Service", "Compute"),
    ("Azure Database for PostgreSQL", "Databases"),
    ("Storage", "Storage"),
]
ROLLUP_COLUMNS = (
    "day",
    "billing_period_start",
    "currency",
    "provider",
    "region_code",
    "region_id",
    "billing_account_id",
    "sub_account_id",
    "service_name",
    "service_category",
    "charge_category",
    "charge_class",
    "pricing_category",
    "commitment_discount_status",
    "team_id",
    "environment_id",
    "service_id",
    "cluster_id",
    "namespace",
    "tier",
    "allocation",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "line_items",
)


def _copy_cost_rollups(environments: list[Environment], services: list[Service], clusters: list[Cluster]) -> int:
    """``COST_ROWS_A_DAY`` rollup rows for each of the last ``COST_DAYS`` days, by ``COPY`` (the cost import's
    own way of writing them). A row a day for each of as many (environment, service, cloud service) as that."""
    by_pk = {cluster.pk: cluster for cluster in clusters}
    allocations = [Allocation.DIRECT] * 7 + [Allocation.NAMESPACE, Allocation.IDLE, Allocation.UNALLOCATED]
    combinations = []
    for n in range(COST_ROWS_A_DAY):
        environment = environments[n % len(environments)]
        service = services[n % len(services)]
        cluster = by_pk[environment.cluster_id]
        name, category = SERVICE_NAMES[n % len(SERVICE_NAMES)]
        allocation = allocations[n % len(allocations)]
        owned = allocation != Allocation.UNALLOCATED
        combinations.append(
            (
                "USD",
                cluster.region.provider,
                cluster.region.code,
                cluster.region_id,
                "111122223333",
                f"{200000000000 + n % 40}",
                name,
                category,
                ChargeCategory.USAGE,
                "",
                PricingCategory.STANDARD,
                "",
                environment.team_id if owned else None,
                environment.pk if owned else None,
                service.pk if owned else None,
                cluster.pk,
                f"{environment.name}-{service.namespace_group}" if owned else "",
                environment.tier if owned else "",
                allocation,
            )
        )
    today = timezone.localdate()
    rows = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {CostRollup._meta.db_table} ({', '.join(ROLLUP_COLUMNS)}) FROM STDIN") as copy,
    ):
        for days_ago in range(COST_DAYS):
            day = today - timedelta(days=days_ago)
            for n, combination in enumerate(combinations):
                cost = Decimal(1 + (n * 7919 + days_ago * 104729) % 50000) / 100
                copy.write_row((day, day.replace(day=1), *combination, cost, cost, cost, cost, 24))
                rows += 1
    return rows


# --- the server -----------------------------------------------------------------------------------


def _collect_static(data_dir: Path) -> None:
    """The manifest of hashed static names the production settings render pages with, under ``data_dir``.

    Collected here by the manifest storage without WhiteNoise's compression, which gives the same
    names and manifest in a third of the time (tests/test_production.py runs the image's own build
    step and checks the compressed copies): these pages link the static files, they never fetch them.
    """
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=data_dir / "staticfiles", STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)


@contextmanager
def _server(options: list[str], data_dir: Path, home: Path, log: Path) -> Iterator[str]:
    """gunicorn as the image starts it with ``options``; its address; stopped (by its process group) after."""
    port = free_port()
    command = server_command(port, options)
    with log.open("ab") as output:
        server = subprocess.Popen(  # noqa: S603 - the Dockerfile's own command
            command,
            cwd=ROOT,
            env=server_environment(data_dir=data_dir, home=home),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert listens(port, server, timeout=60), f"gunicorn did not start; see {log}"
        yield f"http://localhost:{port}"
    finally:
        stop([server])


# --- clients --------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One request's outcome: seconds from when it was due to its answer, and what was wrong, if anything."""

    path: str
    seconds: float
    status: int | None = None  # None: no answer (timeout, refused or reset connection)
    problem: str = ""


class Clients:
    """Signed-in browsers behind the ingress, one HTTP session per thread (a session is not for sharing)."""

    def __init__(self, base_url: str, cookies: dict[str, str], headers: dict[str, str]) -> None:
        self.base_url, self.cookies, self.headers = base_url, cookies, headers
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
            session.cookies.update(self.cookies)
        return session

    def get(self, page: Page, due: float, timeout: float) -> Answer:
        """GET ``page``; latency from ``due`` (a ``perf_counter`` time), which is now in the closed loop. The
        request carries ``X-Request-Start`` as an ingress stamps it, with when it was due: a server that waited
        too long to begin on it turns it away (503) rather than serving a client that gave up."""
        arrived = time.time() - (time.perf_counter() - due)
        try:
            response = self._session().get(
                f"{self.base_url}{page.path}",
                headers={"X-Request-Start": f"t={arrived:.3f}"},
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Answer(page.path, time.perf_counter() - due, problem="timeout")
        except requests.ConnectionError as error:
            return Answer(page.path, time.perf_counter() - due, problem=f"connection: {type(error).__name__}")
        seconds = time.perf_counter() - due
        if response.status_code == 503 and response.headers.get("Retry-After"):
            return Answer(page.path, seconds, 503, TURNED_AWAY)
        if response.status_code != 200:
            return Answer(page.path, seconds, response.status_code, f"status {response.status_code}")
        if page.marker not in response.text:
            return Answer(page.path, seconds, 200, f"no {page.marker!r} in the answer")
        return Answer(page.path, seconds, 200)


def _percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank; enough for p50 and p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class PageResult:
    page: Page
    answers: list[Answer]
    wall_seconds: float

    @property
    def latencies(self) -> list[float]:
        return [answer.seconds for answer in self.answers if not answer.problem]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return _percentile(self.latencies, 0.95)

    @property
    def per_second(self) -> float:
        return len(self.answers) / self.wall_seconds


def _closed_loop(clients: Clients, page: Page, count: int) -> PageResult:
    """``count`` GETs of ``page`` by ``CLIENTS`` clients at once, each asking again as soon as it has its answer."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        answers = list(pool.map(lambda _: clients.get(page, time.perf_counter(), PAGE_TIMEOUT), range(count)))
        wall = time.perf_counter() - started
    return PageResult(page, answers, wall)


@dataclass
class RateResult:
    rate: int
    answers: list[Answer] = field(default_factory=list)

    @property
    def answered(self) -> list[float]:
        return [
            answer.seconds for answer in self.answers if answer.status is not None and answer.problem != TURNED_AWAY
        ]

    @property
    def failures(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status is None]

    @property
    def turned_away(self) -> list[Answer]:
        """Refused at once as overload (503, Retry-After): a measurement, as a timeout is."""
        return [answer for answer in self.answers if answer.problem == TURNED_AWAY]

    @property
    def wrong(self) -> list[Answer]:
        return [
            answer
            for answer in self.answers
            if answer.status is not None and answer.problem and answer.problem != TURNED_AWAY
        ]


def _paced(clients: Clients, schedule: list[tuple[int, int]]) -> list[tuple[float, Answer]]:
    """The pages in turn, started at each ``(rate, seconds)`` of ``schedule`` in order whatever the answers (open
    loop); each answer with when it was due (seconds from the start). All are answered, or timed out, before it
    returns; threads enough for every request to be in flight until its timeout."""
    dues = [offset + n / rate for offset, (rate, seconds) in _offsets(schedule) for n in range(rate * seconds)]
    top = max(rate for rate, _ in schedule)
    with ThreadPoolExecutor(max(1, min(len(dues), top * KNEE_TIMEOUT, 1000))) as pool:
        started = time.perf_counter()
        futures = []
        for n, offset in enumerate(dues):
            due = started + offset
            time.sleep(max(0.0, due - time.perf_counter()))
            futures.append(pool.submit(clients.get, PAGES[n % len(PAGES)], due, KNEE_TIMEOUT))
        return [(offset, future.result()) for offset, future in zip(dues, futures, strict=True)]


def _offsets(schedule: list[tuple[int, int]]) -> Iterator[tuple[float, tuple[int, int]]]:
    offset = 0.0
    for part in schedule:
        yield offset, part
        offset += part[1]


def _open_loop(clients: Clients, rate: int, seconds: int) -> RateResult:
    """The pages in turn at ``rate`` a second for ``seconds``."""
    return RateResult(rate, [answer for _, answer in _paced(clients, [(rate, seconds)])])


# --- the benchmark --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _pages_part(clients: Clients, title: str) -> list[PageResult]:
    results = [_closed_loop(clients, page, REQUESTS) for page in [BASELINE_PAGE, *PAGES]]
    baseline = results[0]
    rows = [
        (
            f"{result.page.path}{' (baseline)' if result is baseline else ''}",
            f"p50 {_ms(result.p50):>9}  p95 {_ms(result.p95):>9}  "
            f"{result.p50 / baseline.p50:6.1f}x baseline p50  {result.per_second:7.1f} requests/s",
        )
        for result in results
        if result.latencies
    ]
    report(f"{title}: {REQUESTS} requests a page, {CLIENTS} clients at once", rows)
    return results


def _knee_part(clients: Clients, title: str) -> list[RateResult]:
    results = []
    for rate in RATES:
        results.append(_open_loop(clients, rate, SECONDS_A_RATE))
        if len(results[-1].failures) > len(results[-1].answers) / 2:
            break  # most went unanswered: a higher rate would only time out more
    lowest_p95 = _percentile(results[0].answered, 0.95) if results[0].answered else 0.0
    knee = None
    rows = []
    for result in results:
        answered = result.answered
        p95 = _percentile(answered, 0.95) if answered else float("inf")
        timeouts = sum(answer.problem == "timeout" for answer in result.failures)
        others = len(result.failures) - timeouts + len(result.wrong)
        if knee is None and (p95 >= 2 * lowest_p95 or result.failures or result.wrong or result.turned_away):
            knee = result.rate
        rows.append(
            (
                f"{result.rate}/s for {SECONDS_A_RATE} s",
                f"p50 {_ms(statistics.median(answered)) if answered else '-':>9}"
                f"  p95 {_ms(p95) if answered else '-':>9}"
                f"  {p95 / lowest_p95 if answered and lowest_p95 else 0:5.1f}x lowest rate's p95"
                f"  errors {others}  timeouts {timeouts}  turned away {len(result.turned_away)}"
                f"{'  <- knee' if knee == result.rate else ''}",
            )
        )
    rows.append(
        (
            "knee",
            f"{knee}/s (p95 doubled against {RATES[0]}/s, or errors)"
            if knee is not None
            else f"none up to {results[-1].rate}/s",
        )
    )
    report(f"{title}: the pages in turn at rising rates (open loop, {KNEE_TIMEOUT} s timeout)", rows)
    return results


def _hold_part(clients: Clients, title: str, lowest_p95: float) -> RateResult:
    """The mix at ``HOLD_RATE`` for ``HOLD_SECONDS``: held if nothing failed and p95 stayed under twice the
    lowest rate's."""
    result = _open_loop(clients, HOLD_RATE, HOLD_SECONDS)
    answered = result.answered
    p95 = _percentile(answered, 0.95) if answered else float("inf")
    held = not (result.failures or result.wrong or result.turned_away) and p95 < 2 * lowest_p95
    report(
        f"{title}: the mix held at {HOLD_RATE}/s for {HOLD_SECONDS} s",
        [
            ("latency", f"p50 {_ms(statistics.median(answered)) if answered else '-'}  p95 {_ms(p95)}"),
            ("p95 / lowest rate's", f"{p95 / lowest_p95 if lowest_p95 else 0:.1f}x"),
            ("errors", f"{len(result.wrong) + sum(a.problem != 'timeout' for a in result.failures)}"),
            ("timeouts", f"{sum(a.problem == 'timeout' for a in result.failures)}"),
            ("turned away", f"{len(result.turned_away)}"),
            ("held", "yes" if held else "no"),
        ],
    )
    return result


def _recovery_part(clients: Clients, title: str, lowest_p95: float) -> list[Answer]:
    """``OVERLOAD_RATE`` for ``OVERLOAD_SECONDS``, then the lowest rate for ``RECOVERY_SECONDS``: how the
    overload was met (answered, turned away, timed out) and how many seconds after it ended requests were
    answered as fast as before again (every later second's p95 under twice the lowest rate's, none lost)."""
    answers = _paced(clients, [(OVERLOAD_RATE, OVERLOAD_SECONDS), (RATES[0], RECOVERY_SECONDS)])
    during = [answer for due, answer in answers if due < OVERLOAD_SECONDS]
    after: dict[int, list[Answer]] = {}
    for due, answer in answers:
        if due >= OVERLOAD_SECONDS:
            after.setdefault(int(due - OVERLOAD_SECONDS), []).append(answer)

    def normal(second: list[Answer]) -> bool:
        fast = [answer.seconds for answer in second if not answer.problem]
        return len(fast) == len(second) and _percentile(fast, 0.95) < 2 * lowest_p95

    seconds = sorted(after)
    recovered = next(
        (second for second in seconds if all(normal(after[later]) for later in seconds if later >= second)), None
    )
    report(
        f"{title}: {OVERLOAD_RATE}/s for {OVERLOAD_SECONDS} s, then {RATES[0]}/s",
        [
            ("overload: answered", f"{sum(not answer.problem for answer in during)}"),
            ("overload: turned away at once", f"{sum(answer.problem == TURNED_AWAY for answer in during)}"),
            ("overload: timed out or failed", f"{sum(answer.status is None for answer in during)}"),
            (
                "recovered",
                f"{recovered} s after the overload ended"
                if recovered is not None
                else f"not within {RECOVERY_SECONDS} s",
            ),
        ],
    )
    return [answer for _, answer in answers]


def bench_the_main_pages_under_load(transactional_db: None, tmp_path: Path) -> None:
    phases: list[tuple[str, str]] = []

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        with timed() as watch:
            yield
        phases.append((name, f"{watch.seconds:.1f} s"))

    with phase("demo"):
        load_demo()
    with phase("data"):
        counts = _build()
    admin = User.objects.get(username=username_of(Persona.PLATFORM_ADMIN))
    # The test settings hash with MD5 for speed; the production settings accept only their own hashers.
    hasher = PBKDF2PasswordHasher()
    admin.password = hasher.encode(DEMO_PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    data_dir, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    with phase("static manifest"):
        _collect_static(data_dir)
    report("load: the data set", [(name, f"{count:,}") for name, count in counts.items()])

    problems: list[str] = []
    for options in SERVERS:
        title = f"gunicorn {' '.join(options) or '(the image)'}"
        with ExitStack() as running:
            with phase(f"{title}: start"):
                base_url = running.enter_context(_server(options, data_dir, home, tmp_path / "gunicorn.log"))
            with phase(f"{title}: sign-in, warm-up"):
                browser = BehindTheIngress(base_url)
                browser.sign_in(admin.username, DEMO_PASSWORD)
                clients = Clients(base_url, browser.cookies, browser.headers)
                for page in [BASELINE_PAGE, *PAGES]:  # every worker process compiles its templates, fills its caches
                    _closed_loop(clients, page, WARM_UP)
            with phase(f"{title}: pages"):
                pages = _pages_part(clients, title)
            with phase(f"{title}: knee"):
                rates = _knee_part(clients, title)
            lowest_p95 = _percentile(rates[0].answered, 0.95) if rates[0].answered else 0.0
            with phase(f"{title}: hold"):
                rates.append(_hold_part(clients, title, lowest_p95))
            with phase(f"{title}: overload and recovery"):
                rates.append(RateResult(OVERLOAD_RATE, _recovery_part(clients, title, lowest_p95)))
        problems += [
            f"{title}: {answer.path}: {answer.problem}"
            for result in pages
            for answer in result.answers
            if answer.problem
        ]
        problems += [f"{title}: {answer.path}: {answer.problem}" for result in rates for answer in result.wrong]
    report("load: where the benchmark's time went (a shared machine's, not the pages')", phases)
    assert not problems, "\n".join(problems[:20])
