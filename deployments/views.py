"""Deployment pages: the version matrix, the service catalogue (list, page, create, edit, delete), the
unmatched workloads and their claim, a deployment's page, a cluster's workload sync and the DORA metrics.

Views are thin: selectors read (scoped by the policy), forms parse, the
catalogue functions decide and write. An object outside the user's scope is
a 404; one they may see but not change, a 403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from access import policy
from access.models import Team, User
from access.permissions import CHANGE, ROLLBACK, VIEW
from deployments import catalogue, selectors, sync
from deployments.choices import WorkloadKind
from deployments.dora import dora
from deployments.filtersets import MatrixFilterForm, ServiceFilterSet, UnmatchedWorkloadFilterSet
from deployments.forms import ClaimForm, DoraForm, ServiceForm
from deployments.models import Deployment, RollbackRequest, Service, Workload
from deployments.rollbacks import freezes
from deployments.rollbacks.services import previous_in_cluster
from deployments.workflows import SYNC
from portal.forms import saved
from portal.http import HttpRequest, signed_in
from regions.models import Cluster
from scorecards import selectors as scorecard_selectors
from workflows.selectors import latest_run, run_context

PAGE_SIZE = 50


def _teams_for_services(user: User) -> QuerySet[Team]:
    """Teams ``user`` may own services for (``deployments.change`` on the team)."""
    visible = list(policy.restrict(Team.objects.all(), user, policy.VIEW).order_by("name"))
    allowed = [team.pk for team in visible if policy.can(user, CHANGE, Service(team=team))]
    return Team.objects.filter(pk__in=allowed).order_by("name")


# --- the matrix ----------------------------------------------------------------------------


@login_required
@require_GET
def matrix(request: HttpRequest) -> HttpResponse:
    """Services x environments (and clusters): version, health, age, drift; htmx gets only the table."""
    user = signed_in(request)
    form = MatrixFilterForm(request.GET or None, user=user)
    form.is_valid()
    version_matrix = selectors.version_matrix(user=user, filters=form.filters(), page_number=request.GET.get("page"))
    context = {
        "form": form,
        "matrix": version_matrix,
        "page": version_matrix.page,
        "can_add": policy.can(user, CHANGE, Service),
        "max_columns": selectors.MATRIX_MAX_COLUMNS,
    }
    template = "deployments/_matrix.html" if request.htmx else "deployments/matrix.html"
    return render(request, template, context)


# --- the catalogue --------------------------------------------------------------------------


@login_required
@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    filterset = ServiceFilterSet(request.GET, queryset=selectors.service_list(user=user), request=request)
    services = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(services, PAGE_SIZE).get_page(request.GET.get("page"))
    listed = list(page.object_list)
    scorecards, standings = scorecard_selectors.catalogue_standings(user=user, services=listed)
    context = {
        "filterset": filterset,
        "page": page,
        "scorecards": scorecards,
        "rows": [(service, standings[service.pk]) for service in listed],
        "can_add": policy.can(user, CHANGE, Service),
    }
    template = "deployments/_service_table.html" if request.htmx else "deployments/service_list.html"
    return render(request, template, context)


@login_required
@require_GET
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Owner, repository, links, the versions running now, its scorecards and the timeline of deployments and runs."""
    user = signed_in(request)
    service = selectors.service_get(user=user, slug=slug)
    current = selectors.service_current_versions(user=user, service=service)
    page, entries = selectors.service_timeline(user=user, service=service, page_number=request.GET.get("page"))
    cells = current.rows[0].cells if current.rows else {}
    context = {
        "service": service,
        "current_cells": [(column, cells[column.key]) for column in current.columns if column.key in cells],
        "page": page,
        "entries": entries,
        "can_change": policy.can(user, CHANGE, service),
    }
    if request.htmx:
        return render(request, "deployments/_timeline.html", context)
    context["cards"] = scorecard_selectors.service_cards(user=user, service=service)
    return render(request, "deployments/service_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not policy.can(user, CHANGE, Service):
        raise PermissionDenied("You may not add services to the catalogue.")
    form = ServiceForm(request.POST or None, teams=_teams_for_services(user))
    service = saved(request, form, lambda data: catalogue.service_create(actor=user, **data))
    if service is not None:
        messages.success(request, f"Service {service} added to the catalogue.")
        return redirect("deployments:service", slug=service.slug)
    return render(request, "deployments/service_form.html", {"form": form, "title": "New service"})


@login_required
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    user = signed_in(request)
    service = selectors.service_get(user=user, slug=slug)
    policy.require(user, CHANGE, service)
    form = ServiceForm(request.POST or None, teams=_teams_for_services(user), instance=service)
    updated = saved(request, form, lambda data: catalogue.service_update(actor=user, service_id=service.pk, **data))
    if updated is not None:
        messages.success(request, f"Service {updated} saved.")
        return redirect("deployments:service", slug=updated.slug)
    context = {"form": form, "title": f"Edit {service}", "service": service}
    return render(request, "deployments/service_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def service_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """Confirm, then delete: the service's workloads and deployments stay, without a service."""
    user = signed_in(request)
    service = selectors.service_get(user=user, slug=slug)
    policy.require(user, CHANGE, service)
    if request.method == "POST":
        kept = catalogue.service_delete(actor=user, service_id=service.pk)
        messages.success(
            request,
            f"Service {service} deleted. Its {kept} workload{'s' if kept != 1 else ''} and its deployments are kept, "
            "now without a service.",
        )
        return redirect("deployments:services")
    context = {
        "service": service,
        "workloads": service.workloads.filter(gone_at__isnull=True).count(),
        "deployments": service.deployments.count(),
    }
    return render(request, "deployments/service_delete.html", context)


# --- unmatched workloads ----------------------------------------------------------------------


@login_required
@require_GET
def unmatched(request: HttpRequest) -> HttpResponse:
    """Present workloads of no service, to claim; filtered by cluster and namespace."""
    user = signed_in(request)
    filterset = UnmatchedWorkloadFilterSet(
        request.GET, queryset=selectors.unmatched_workloads(user=user), request=request
    )
    workloads = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(workloads, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filterset": filterset, "page": page, "can_claim": policy.can(user, CHANGE, Service)}
    template = "deployments/_unmatched_table.html" if request.htmx else "deployments/unmatched.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def workload_claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Pick the service an unmatched workload belongs to."""
    user = signed_in(request)
    workload = get_object_or_404(selectors.workload_list(user=user), pk=pk)
    services = selectors.services_changeable(user=user)
    if not policy.can(user, CHANGE, Service):
        raise PermissionDenied("You may not change the service catalogue.")
    form = ClaimForm(request.POST or None, services=services)
    claimed = saved(
        request,
        form,
        lambda data: catalogue.workload_claim(actor=user, workload_id=workload.pk, service_id=data["service"].pk),
    )
    if claimed is not None:
        messages.success(request, f"{claimed} now belongs to {claimed.service}.")
        return redirect("deployments:unmatched")
    return render(request, "deployments/workload_claim.html", {"form": form, "workload": workload})


# --- a deployment --------------------------------------------------------------------------------


def _progress(progress: Any) -> dict[str, Any] | None:
    """Canary or blue-green progress as numbers the page can draw; None when there is none."""
    if not isinstance(progress, dict) or not progress:
        return None
    found: dict[str, Any] = {}
    for name in ("step", "steps", "weight"):
        value = progress.get(name)
        found[name] = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if found["weight"] is None and found["step"] is not None and found["steps"]:
        found["weight"] = round(100 * found["step"] / found["steps"])
    if found["weight"] is None:
        return None
    found["weight"] = max(0, min(100, found["weight"]))
    return found


@login_required
@require_GET
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    deployment = selectors.deployment_get(user=user, pk=pk)
    run = deployment.pipeline_run
    stages = selectors.run_stages(run) if run is not None else []
    workloads = selectors.deployment_workloads(deployment=deployment, user=user)
    kept = previous_in_cluster(deployment, workloads)
    previous_images = deployment.previous_images or (list(kept.images) if kept and deployment.images else [])
    context = {
        "deployment": deployment,
        "previous_in_cluster": kept,
        "run": run,
        "stages": stages,
        "security": run.security if run is not None and isinstance(run.security, dict) else {},
        "diff": selectors.image_diff(previous_images, deployment.images or []),
        "progress": _progress(deployment.progress),
        "workloads": workloads,
        "can_roll_back": {
            workload.pk
            for workload in workloads
            if not workload.is_gone and workload.kind != WorkloadKind.CRON_JOB and policy.can(user, ROLLBACK, workload)
        },
        "during_freeze": freezes.deployed_during_freeze(deployment),
        "rollback": RollbackRequest.objects.filter(deployment=deployment).first(),
    }
    return render(request, "deployments/deployment_detail.html", context)


# --- cluster sync ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def cluster_sync(request: HttpRequest, pk: int) -> HttpResponse:
    """The cluster's workload sync: the latest run and what it found (GET, loaded into the cluster page);
    POST starts one now (or shows the one under way)."""
    user = signed_in(request)
    cluster = get_object_or_404(policy.restrict(Cluster.objects.select_related("region"), user, VIEW), pk=pk)
    if request.method == "POST":
        sync.sync_request(actor=user, cluster_id=cluster.pk)
        if not request.htmx:
            messages.success(request, f"Syncing the workloads of {cluster.name}.")
            return redirect("regions:cluster", cluster.region.provider, cluster.region.code, cluster.name)
    run = latest_run(cluster, SYNC)
    workloads = policy.restrict(Workload.objects.filter(cluster=cluster), user, VIEW)
    context = {
        "cluster": cluster,
        "present": workloads.filter(gone_at__isnull=True).count(),
        "gone": workloads.filter(gone_at__isnull=False).count(),
        "can_sync": policy.can(user, CHANGE, Workload),
        "poll_url": reverse("deployments:cluster_sync", kwargs={"pk": cluster.pk}),
        **(run_context(run) if run is not None else {}),
    }
    return render(request, "deployments/_cluster_sync.html", context)


# --- DORA -----------------------------------------------------------------------------------------


@login_required
@require_GET
def dora_metrics(request: HttpRequest) -> HttpResponse:
    """The four DORA metrics of the production deployments the user may see, for a team or service and period."""
    user = signed_in(request)
    visible = policy.restrict(Deployment.objects.all(), user, VIEW)
    teams = policy.restrict(Team.objects.all(), user, VIEW).order_by("name")
    services = policy.restrict(Service.objects.all(), user, VIEW).order_by("name")
    form = DoraForm(request.GET or None, teams=teams, services=services)
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("team"):
        visible = visible.filter(team=data["team"])
    if data.get("service"):
        visible = visible.filter(service=data["service"])
    days = data.get("days") or 30
    end = timezone.localdate() + timedelta(days=1)
    metrics = dora(visible, start=end - timedelta(days=days), end=end)
    chart_data = {
        "labels": [f"{point.day:%d %b}" for point in metrics.daily],
        "datasets": [
            {"label": "Deployments", "data": [point.deployments for point in metrics.daily]},
            {"label": "Failures", "data": [point.failures for point in metrics.daily]},
        ],
    }
    context = {"form": form, "metrics": metrics, "chart_data": chart_data, "days": days}
    return render(request, "deployments/dora.html", context)
