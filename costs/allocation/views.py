"""The cluster allocation page and its CSV export: thin callers of :mod:`costs.allocation.selectors`.

Reading needs ``costs.view`` on some cost (the rollups are then scoped, so a
team-limited reader sees their own namespaces); the export needs
``costs.export`` and is audited. The cluster itself must be in the reader's
inventory scope (404 otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from access import policy
from access.audit import services as audit
from costs.allocation.selectors import AllocationReport, NamespaceRow, cluster_allocation
from costs.allocation.services import source_of
from costs.choices import CostBasis
from costs.dates import EARLIEST_DAY, refuse_days_outside
from costs.models import CostRollup
from portal.csv_export import csv_lines, csv_stream
from portal.http import HttpRequest, signed_in
from regions.models import Cluster

DEFAULT_DAYS = 7
MAX_DAYS = 366


class AllocationForm(forms.Form):
    """The day range (both days included) and the cost basis; empty fields mean the last week, effective cost."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    basis = forms.ChoiceField(choices=CostBasis.choices, required=False, initial=CostBasis.EFFECTIVE, label="Cost")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        refuse_days_outside(self, data, ("start", "end"), today)
        if "start" in self.errors or "end" in self.errors:
            return data
        end = data.get("end") or today
        start = data.get("start") or max(end - timedelta(days=DEFAULT_DAYS - 1), EARLIEST_DAY)
        if start > end:
            self.add_error("start", "The range starts after it ends: pick a first day on or before the last.")
        elif (end - start).days >= MAX_DAYS:
            self.add_error("start", f"Pick at most {MAX_DAYS} days.")
        data.update(start=start, end=end, basis=data.get("basis") or CostBasis.EFFECTIVE)
        return data


def _cluster(request: HttpRequest, cluster_id: int) -> Cluster:
    visible = policy.restrict(Cluster.objects.select_related("region"), request.user, policy.VIEW)
    return get_object_or_404(visible, pk=cluster_id)


def _report(request: HttpRequest, cluster: Cluster, form: AllocationForm) -> AllocationReport | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    return cluster_allocation(
        user=request.user,
        cluster=cluster,
        start=data["start"],
        end=data["end"] + timedelta(days=1),
        basis=data["basis"],
    )


@login_required
@require_GET
def cluster_allocation_page(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """Per namespace: requested vs used vs charged hours, share and cost; idle on its own line."""
    policy.require(request.user, policy.VIEW, CostRollup)
    cluster = _cluster(request, cluster_id)
    form = AllocationForm(request.GET)
    report = _report(request, cluster, form)
    context = {
        "cluster": cluster,
        "form": form,
        "report": report,
        "can_export": policy.can(request.user, policy.EXPORT, CostRollup),
        "query": request.GET.urlencode(),
        "share_idle": bool((source := source_of(cluster)) and source.share_idle),
    }
    template = "costs/_allocation_table.html" if request.htmx else "costs/allocation.html"
    response = render(request, template, context)
    if report is None:
        response.status_code = 400
    return response


@login_required
@require_GET
def cluster_allocation_export(request: HttpRequest, cluster_id: int) -> HttpResponseBase:
    """The page's table as CSV, one line per namespace and currency; the export is audited."""
    policy.require(request.user, policy.EXPORT, CostRollup)
    cluster = _cluster(request, cluster_id)
    form = AllocationForm(request.GET)
    report = _report(request, cluster, form)
    if report is None:
        context = {"cluster": cluster, "form": form, "report": None, "can_export": True, "query": ""}
        response = render(request, "costs/allocation.html", context)
        response.status_code = 400
        return response
    with transaction.atomic():
        audit.record(
            audit.COST_ALLOCATION_EXPORTED,
            cluster,
            actor=signed_in(request),
            start=report.start.isoformat(),
            end=report.last_day.isoformat(),
            basis=report.basis,
        )
    filename = f"allocation-{cluster.name}-{report.start:%Y%m%d}-{report.last_day:%Y%m%d}.csv"
    return csv_stream(csv_lines(CSV_COLUMNS, _csv_rows_of(report)), filename=filename)


CSV_COLUMNS = [
    "namespace",
    "team",
    "environment",
    "cpu_request_core_hours",
    "cpu_usage_core_hours",
    "memory_request_gib_hours",
    "memory_usage_gib_hours",
    "gpu_hours",
    "charged_cpu_core_hours",
    "charged_memory_gib_hours",
    "charged_gpu_hours",
    "mean_daily_share",
    "currency",
    "cost",
]


def _number(value: Decimal | None, places: str = "0.0001") -> Decimal | None:
    return None if value is None else value.quantize(Decimal(places))


def _csv_rows(line: NamespaceRow) -> Iterator[list[Any]]:
    head = [
        line.namespace or line.label,
        line.team,
        line.environment,
        _number(line.cpu_request_hours),
        _number(line.cpu_usage_hours),
        _number(line.memory_request_gib_hours),
        _number(line.memory_usage_gib_hours),
        _number(line.gpu_hours),
        _number(line.charged_cpu_hours),
        _number(line.charged_memory_gib_hours),
        _number(line.charged_gpu_hours),
        _number(line.share, "0.0000000001"),
    ]
    if not line.cost:
        yield [*head, "", ""]
    for currency, amount in sorted(line.cost.items()):
        yield [*head, currency, amount]


def _csv_rows_of(report: AllocationReport) -> Iterator[list[Any]]:
    lines = [*report.rows, *([report.idle] if report.idle else []), *([report.unsplit] if report.unsplit else [])]
    for line in lines:
        yield from _csv_rows(line)
