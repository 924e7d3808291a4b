"""Reads of the deployments app, always scoped by the policy: the catalogue, workloads, deployments,
pipeline runs, the version matrix and a service's timeline.

The matrix (:func:`version_matrix`) runs a fixed number of queries whatever
its size: one page of services, the columns, and every present workload of
the page's services in one ``values()`` query, grouped in Python.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import CharField, DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.dates import MONTHS_3
from django.utils.text import capfirst
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from access import policy
from access.models import Tier, User
from deployments.choices import Health, tone_of
from deployments.models import Deployment, PipelineRun, Service, Workload
from environments.choices import LIVE

AnyUser = User | AnonymousUser

# Services a matrix page shows: a screen or two of rows, each up to MATRIX_MAX_COLUMNS cells wide.
MATRIX_PAGE_SIZE = 25
# At most this many places (columns) a matrix page shows, production kept first; the rest are counted and named
# by how to reach them (the environment and region filters). Without a cap, services spread over thousands of
# environments would make a page of megabytes.
MATRIX_MAX_COLUMNS = 40
TIMELINE_PAGE_SIZE = 25
# Worst first: a cell with several workloads shows the worst health among them.
HEALTH_SEVERITY: dict[str, int] = {Health.DEGRADED: 3, Health.PROGRESSING: 2, Health.UNKNOWN: 1, Health.HEALTHY: 0}
TIER_ORDER = {Tier.DEVELOPMENT: 0, Tier.TEST: 1, Tier.STAGING: 2, Tier.PRODUCTION: 3}


# --- the catalogue -----------------------------------------------------------------------


def service_list(*, user: AnyUser) -> QuerySet[Service]:
    return policy.restrict(Service.objects.all(), user, policy.VIEW).select_related("team").order_by("name")


def service_get(*, user: AnyUser, slug: str) -> Service:
    return get_object_or_404(service_list(user=user), slug=slug)


def services_changeable(*, user: AnyUser) -> QuerySet[Service]:
    """Services ``user`` may claim workloads for (``deployments.change`` on their team)."""
    return policy.restrict(Service.objects.all(), user, policy.CHANGE).select_related("team").order_by("name")


# --- workloads, deployments and runs ---------------------------------------------------------


def workload_list(*, user: AnyUser) -> QuerySet[Workload]:
    return (
        policy.restrict(Workload.objects.all(), user, policy.VIEW)
        .select_related("cluster__region", "service", "environment", "team")
        .order_by("cluster__name", "namespace", "kind", "name")
    )


def workload_get(*, user: AnyUser, pk: int) -> Workload:
    """A workload ``user`` may see (else 404), with what its Kubernetes view needs to reach its cluster."""
    workloads = Workload.objects.select_related("cluster__region", "team", "service")
    return get_object_or_404(policy.restrict(workloads, user, policy.VIEW), pk=pk)


def unmatched_workloads(*, user: AnyUser) -> QuerySet[Workload]:
    """Present workloads no label matched and nobody claimed."""
    return workload_list(user=user).filter(service__isnull=True, gone_at__isnull=True)


def deployment_list(*, user: AnyUser) -> QuerySet[Deployment]:
    return (
        policy.restrict(Deployment.objects.all(), user, policy.VIEW)
        .select_related("service", "environment", "cluster__region", "workload", "team")
        .defer("cluster__kubeconfig")  # a secret, decrypted on every row read: read only where it is used
        .order_by("-started_at", "-pk")
    )


def deployment_get(*, user: AnyUser, pk: int) -> Deployment:
    return get_object_or_404(deployment_list(user=user).select_related("pipeline_run"), pk=pk)


def pipeline_run_list(*, user: AnyUser) -> QuerySet[PipelineRun]:
    return (
        policy.restrict(PipelineRun.objects.all(), user, policy.VIEW)
        .select_related("service", "environment", "cluster__region", "team")
        .order_by(F("started_at").desc(nulls_last=True), "-pk")
    )


def deployment_workloads(*, deployment: Deployment, user: AnyUser) -> list[Workload]:
    """The workload(s) a deployment went to: its own, else the service's present ones at its place."""
    workloads = workload_list(user=user).filter(gone_at__isnull=True)
    if deployment.workload_id is not None:
        return list(workload_list(user=user).filter(pk=deployment.workload_id))
    if deployment.service_id is None:
        return []
    workloads = workloads.filter(service_id=deployment.service_id)
    if deployment.environment_id is not None:
        return list(workloads.filter(environment_id=deployment.environment_id))
    if deployment.cluster_id is not None:
        return list(workloads.filter(cluster_id=deployment.cluster_id, namespace=deployment.namespace))
    return []


# --- image diff ------------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[0-9a-f]+$")


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/team/app:1.2`` -> (``registry:5000/team/app``, ``1.2``); a digest is the tag."""
    digest = _DIGEST.search(image)
    if digest is not None:
        return image[: digest.start()], digest.group(0)[1:]
    name, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry's port
        return image, "latest"
    return name, tag


@dataclass(frozen=True)
class ImageChange:
    repository: str
    before: str
    after: str

    @property
    def kind(self) -> str:
        if not self.before:
            return "added"
        if not self.after:
            return "removed"
        return "changed" if self.before != self.after else "same"


def image_diff(before: Iterable[str], after: Iterable[str]) -> list[ImageChange]:
    """What changed between two image lists, by repository: added, removed, tag changed, the same."""
    old = dict(split_image(image) for image in before)
    new = dict(split_image(image) for image in after)
    changes = [ImageChange(repository, old.get(repository, ""), new.get(repository, "")) for repository in new]
    changes += [ImageChange(repository, tag, "") for repository, tag in old.items() if repository not in new]
    order = {"changed": 0, "added": 1, "removed": 2, "same": 3}
    return sorted(changes, key=lambda change: (order[change.kind], change.repository))


# --- pipeline stages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def seconds(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0, int((self.finished_at - self.started_at).total_seconds()))

    @property
    def duration(self) -> str:
        seconds = self.seconds
        if seconds is None:
            return ""
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def run_stages(run: PipelineRun) -> list[Stage]:
    """A run's stages as stored (``[{"name", "kind", "status", "started_at", "finished_at"}]``), tolerant
    of what a CI system left out."""
    stages = []
    for raw in run.stages if isinstance(run.stages, list) else []:
        if not isinstance(raw, dict):
            continue
        stages.append(
            Stage(
                name=str(raw.get("name") or raw.get("kind") or "stage"),
                kind=str(raw.get("kind") or "other"),
                status=str(raw.get("status") or ""),
                started_at=_when(raw.get("started_at")),
                finished_at=_when(raw.get("finished_at")),
            )
        )
    return stages


# --- the version matrix ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """An environment, or for workloads in no environment a cluster (labelled with its region)."""

    key: str
    label: str
    detail: str
    tier: str = ""
    environment_id: int | None = None
    cluster_id: int | None = None

    @property
    def is_production(self) -> bool:
        return self.tier == Tier.PRODUCTION


@dataclass
class Cell:
    """The service's present workloads in one column."""

    versions: list[str] = field(default_factory=list)
    health: str = Health.UNKNOWN
    rolled_out_at: datetime | None = None
    count: int = 0
    drift: bool = False
    workload_ids: list[int] = field(default_factory=list)
    deployment_id: int | None = None  # the newest deployment that put the cell's version there (one may see)
    workload_id: int | None = None  # the workload that deployment reached, else the first running the version
    href: str = ""  # the deployment's page, else the workload's pods

    # What the matrix page shows of a cell is worked out here, once per cell, rather than by template filters and
    # an include per cell: a page has up to 50 x ~35 cells, and the template engine's per-node cost dominated its
    # time. A cell is complete (all its workloads added) before any of these is first read; each is then kept.

    @cached_property
    def version(self) -> str:
        """The version most of the cell's workloads run (the first seen on a tie)."""
        if len(self.versions) == 1:
            return self.versions[0]
        return Counter(self.versions).most_common(1)[0][0] if self.versions else ""

    @cached_property
    def other_versions(self) -> list[str]:
        version = self.version
        return sorted({other for other in self.versions if other != version})

    @cached_property
    def health_tone(self) -> str:
        """The Bootstrap colour of the cell's health badge."""
        return tone_of(self.health or Health.UNKNOWN)

    @cached_property
    def health_label(self) -> str:
        return capfirst(self.health or Health.UNKNOWN)

    @cached_property
    def _rolled_out_here(self) -> datetime | None:
        """``rolled_out_at`` in the current time zone, as the template's date filters would show it."""
        return localtime(self.rolled_out_at) if self.rolled_out_at is not None else None

    @cached_property
    def rolled_out_iso(self) -> str:
        """When the newest workload was rolled out, ISO 8601 (``<time datetime>``; the ``c`` date format)."""
        return self._rolled_out_here.isoformat() if self._rolled_out_here is not None else ""

    @cached_property
    def rolled_out_title(self) -> str:
        """The same as people read it, "Rolled out 3 Mar 2025 14:05 CET": the ``j M Y H:i T`` date format,
        spelt out here because ``dateformat.format`` costs more than the rest of a cell together."""
        when = self._rolled_out_here
        if when is None:
            return ""
        month = MONTHS_3[when.month].title()
        return f"Rolled out {when.day} {month} {when.year} {when:%H:%M} {when.tzname()}"

    @cached_property
    def rolled_out_ago(self) -> str:
        """How long ago, as ``timesince`` says it ("5 hours, 3 minutes")."""
        return timesince(self.rolled_out_at) if self.rolled_out_at is not None else ""


@dataclass
class Row:
    service: Service
    cells: dict[str, Cell]
    reference_version: str = ""

    def in_order(self, columns: Sequence[Column]) -> list[Cell | None]:
        return [self.cells.get(column.key) for column in columns]

    @property
    def drifted(self) -> bool:
        return any(cell.drift for cell in self.cells.values())


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[Row]
    page: Page[Service]
    hidden_columns: int = 0  # places where this page's services run beyond MATRIX_MAX_COLUMNS


@dataclass(frozen=True)
class MatrixFilters:
    team: str = ""  # a team's slug
    environment: int | None = None
    region: int | None = None
    health: str = ""
    q: str = ""

    @property
    def narrows_cells(self) -> bool:
        return self.environment is not None or self.region is not None or bool(self.health)


def matrix_workloads(*, user: AnyUser, filters: MatrixFilters = MatrixFilters()) -> QuerySet[Workload]:
    """The workloads the matrix shows: present, of a service, in a live environment or none."""
    workloads = policy.restrict(Workload.objects.all(), user, policy.VIEW).filter(
        gone_at__isnull=True, service__isnull=False
    )
    workloads = workloads.filter(Q(environment__isnull=True) | Q(environment__status__in=LIVE))
    if filters.environment is not None:
        workloads = workloads.filter(environment_id=filters.environment)
    if filters.region is not None:
        workloads = workloads.filter(cluster__region_id=filters.region)
    if filters.health:
        workloads = workloads.filter(health=filters.health)
    return workloads


def matrix_services(*, user: AnyUser, filters: MatrixFilters = MatrixFilters()) -> QuerySet[Service]:
    services = policy.restrict(Service.objects.all(), user, policy.VIEW)
    if filters.team:
        services = services.filter(team__slug=filters.team)
    if filters.q:
        services = services.filter(Q(name__icontains=filters.q) | Q(slug__icontains=filters.q))
    if filters.narrows_cells:
        services = services.filter(pk__in=matrix_workloads(user=user, filters=filters).values("service_id"))
    return services.select_related("team").order_by("name", "pk")


# What a column shows of its place, read with the (environment, cluster) pairs in one query.
PLACE_FIELDS = (
    "environment_id",
    "cluster_id",
    "environment__name",
    "environment__tier",
    "environment__cluster__region__code",
    "cluster__name",
    "cluster__region__code",
    "cluster__region__residency_zone",
)


def _columns(places: Iterable[tuple[Any, ...]]) -> list[Column]:
    """Columns for the places that have workloads (:data:`PLACE_FIELDS` of each distinct environment and
    cluster pair): environments in tier order, then clusters (for workloads in no environment) by region."""
    columns: dict[str, tuple[tuple[Any, ...], Column]] = {}
    tier_labels = dict(Tier.choices)
    for environment_id, cluster_id, name, tier, region_code, cluster_name, cluster_region, zone in places:
        if environment_id is not None:
            key = f"e{environment_id}"
            detail = f"{tier_labels.get(tier, tier)} · {region_code}"
            column = Column(key=key, label=name, detail=detail, tier=tier, environment_id=environment_id)
            columns[key] = ((0, TIER_ORDER.get(tier, 9), region_code, name), column)
        else:
            key = f"c{cluster_id}"
            column = Column(key=key, label=cluster_region, detail=cluster_name, cluster_id=cluster_id)
            columns[key] = ((1, 0, zone, cluster_region, cluster_name), column)
    return [column for _, column in sorted(columns.values(), key=lambda item: item[0])]


# Which places a capped matrix keeps: production (drift is measured against it), the regions' own namespaces,
# then the way towards production, each in page order.
KEEP_ORDER = {Tier.PRODUCTION: 0, "": 1, Tier.STAGING: 2, Tier.TEST: 3, Tier.DEVELOPMENT: 4}


def _keep_first(column: Column) -> int:
    return KEEP_ORDER.get(column.tier, 5)


def _mark_drift(row: Row, columns: Sequence[Column]) -> None:
    """The reference is what production runs (the most common version among production cells), else
    the most common version in the row; a cell running anything else has drifted."""
    production = [
        row.cells[column.key].version for column in columns if column.is_production and column.key in row.cells
    ]
    candidates = production or [cell.version for cell in row.cells.values()]
    candidates = [version for version in candidates if version]
    if not candidates or len(row.cells) < 2:
        return
    counts = Counter(candidates)
    best = max(counts.values())
    # A tie is broken towards the version seen first in column order, so the page reads the same every time.
    row.reference_version = next(version for version in candidates if counts[version] == best)
    for cell in row.cells.values():
        cell.drift = bool(cell.version) and cell.version != row.reference_version


def version_matrix(
    *,
    user: AnyUser,
    filters: MatrixFilters = MatrixFilters(),
    page_number: Any = 1,
    page_size: int = MATRIX_PAGE_SIZE,
    service_ids: Sequence[int] | None = None,
    max_columns: int | None = MATRIX_MAX_COLUMNS,
) -> Matrix:
    """Services (one page) x the environments and clusters where they run (at most ``max_columns`` of them,
    production first): version, health, age and drift per cell."""
    services = matrix_services(user=user, filters=filters)
    if service_ids is not None:
        services = services.filter(pk__in=list(service_ids))
    page = Paginator(services, page_size).get_page(page_number)
    workloads = matrix_workloads(user=user, filters=filters)
    rows = {service.pk: Row(service, {}) for service in page.object_list}
    every_column = _columns(
        workloads.filter(service_id__in=list(rows)).values_list(*PLACE_FIELDS).order_by().distinct()
    )
    shown = {column.key for column in sorted(every_column, key=_keep_first)[:max_columns]}
    columns = [column for column in every_column if column.key in shown]
    values = workloads.filter(service_id__in=list(rows)).values_list(
        "pk", "service_id", "environment_id", "cluster_id", "version", "health", "rolled_out_at"
    )
    versions: dict[int, str] = {}
    for pk, service_id, environment_id, cluster_id, version, health, rolled_out_at in values.order_by("pk"):
        key = f"e{environment_id}" if environment_id is not None else f"c{cluster_id}"
        if key not in shown:
            continue
        versions[pk] = version
        cell = rows[service_id].cells.setdefault(key, Cell())
        cell.versions.append(version)
        cell.workload_ids.append(pk)
        cell.count += 1
        if cell.count == 1 or HEALTH_SEVERITY.get(health, 1) > HEALTH_SEVERITY.get(cell.health, 1):
            cell.health = health
        if rolled_out_at is not None and (cell.rolled_out_at is None or rolled_out_at > cell.rolled_out_at):
            cell.rolled_out_at = rolled_out_at
    for row in rows.values():
        _mark_drift(row, columns)
    _link_cells(user, list(rows.values()), versions)
    return Matrix(columns, list(rows.values()), page, hidden_columns=len(every_column) - len(columns))


def _link_cells(user: AnyUser, rows: Sequence[Row], versions: dict[int, str]) -> None:
    """Give each cell the newest deployment (one the user may see) that put the cell's version there: into the
    cell's environment (or, for a cluster column, its cluster outside any environment) or onto one of its
    workloads. A cell no recorded deployment reached leads to its first workload running that version."""
    cells = [(row.service.pk, key, cell) for row in rows for key, cell in row.cells.items()]
    newest: dict[tuple[int, str, str], tuple[datetime, int, int | None]] = {}
    found = (
        policy.restrict(Deployment.objects.all(), user, policy.VIEW)
        .filter(service_id__in={service for service, _, _ in cells}, version__in={cell.version for *_, cell in cells})
        .values_list("service_id", "environment_id", "cluster_id", "workload_id", "version", "started_at", "pk")
    )
    for service_id, environment_id, cluster_id, workload_id, version, started_at, pk in found:
        places = [f"e{environment_id}" if environment_id is not None else f"c{cluster_id}"]
        places += [f"w{workload_id}"] if workload_id is not None else []
        for place in places:
            known = newest.get((service_id, place, version))
            if known is None or (started_at, pk) > known[:2]:
                newest[(service_id, place, version)] = (started_at, pk, workload_id)
    deployment_url = _url_for_pk("deployments:detail")
    workload_url = _url_for_pk("deployments:workload_kubernetes")
    for service_id, column, cell in cells:
        running = [pk for pk in cell.workload_ids if versions[pk] == cell.version] or cell.workload_ids
        places = [column, *(f"w{pk}" for pk in running)]
        reached = [
            newest[(service_id, place, cell.version)] for place in places if (service_id, place, cell.version) in newest
        ]
        if reached:
            _, cell.deployment_id, reached_workload = max(reached)
            cell.workload_id = reached_workload if reached_workload in running else running[0]
            cell.href = deployment_url(cell.deployment_id)
        else:
            cell.workload_id = running[0]
            cell.href = workload_url(cell.workload_id)


def _url_for_pk(name: str) -> Callable[[int], str]:
    """``reverse(name, args=[pk])`` for many pks at the cost of one reverse (a matrix page has ~1,700 cells)."""
    marker = 2_147_483_647
    pattern = reverse(name, args=[marker])
    return lambda pk: pattern.replace(str(marker), str(pk))


# --- a service's timeline ----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "deployment" or "run"
    at: datetime | None
    deployment: Deployment | None = None
    run: PipelineRun | None = None


def service_timeline(
    *, user: AnyUser, service: Service, page_number: Any = 1, page_size: int = TIMELINE_PAGE_SIZE
) -> tuple[Page[Any], list[TimelineEntry]]:
    """Deployments and pipeline runs of ``service``, newest first, one page (ordered and cut in SQL)."""
    deployments = (
        policy.restrict(Deployment.objects.all(), user, policy.VIEW)
        .filter(service=service)
        .annotate(entry=Value("deployment", output_field=CharField()), at=F("started_at"))
        .values_list("entry", "pk", "at")
    )
    runs = (
        policy.restrict(PipelineRun.objects.all(), user, policy.VIEW)
        .filter(service=service)
        .annotate(
            entry=Value("run", output_field=CharField()),
            at=Coalesce("started_at", "updated_at", output_field=DateTimeField()),
        )
        .values_list("entry", "pk", "at")
    )
    union = deployments.union(runs, all=True).order_by("-at", "-pk")
    page = Paginator(union, page_size).get_page(page_number)
    items = list(page.object_list)
    wanted_deployments = [pk for entry, pk, _ in items if entry == "deployment"]
    wanted_runs = [pk for entry, pk, _ in items if entry == "run"]
    found_deployments = Deployment.objects.select_related("environment", "cluster__region", "pipeline_run").in_bulk(
        wanted_deployments
    )
    found_runs = PipelineRun.objects.select_related("environment").in_bulk(wanted_runs)
    entries = [
        TimelineEntry("deployment", at, deployment=found_deployments[pk])
        if entry == "deployment"
        else TimelineEntry("run", at, run=found_runs[pk])
        for entry, pk, at in items
        if pk in (found_deployments if entry == "deployment" else found_runs)
    ]
    return page, entries


def service_current_versions(*, user: AnyUser, service: Service) -> Matrix:
    """The service's row of the matrix (every environment and cluster it runs in)."""
    return version_matrix(user=user, page_size=1, service_ids=[service.pk], max_columns=None)
