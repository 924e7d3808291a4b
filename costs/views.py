"""Cost pages (overview, breakdown with drill-down and CSV export, an environment's cost) and the price table
pages (list, filtered with htmx; add, correct and delete a price).

Cost pages read only the daily rollups the policy lets the user see (:mod:`costs.reports`): managers see
everything, developers their team's. Opening them takes ``costs.view`` on some figures (403 otherwise),
exporting ``costs.export``.

The price table belongs to no team, so a grant limited to a team never
covers it: the pages are for people who hold ``costs.view`` (to read) or
``costs.change`` (to edit) without a team limit, such as managers and
platform admins. Everyone else gets 403 on the list and 404 on a row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import condition, require_GET, require_http_methods

from access import policy
from access.models import User
from access.permissions import CHANGE, EXPORT, VIEW
from costs import exports, reports, selectors, services
from costs.choices import CostBasis, CostPeriod
from costs.filtersets import PriceFilterSet
from costs.forecast import month_bounds
from costs.forms import CostQueryForm, PriceForm, basis_names, either, unknown_message, unknown_parameters
from costs.models import CostRollup, PriceItem
from environments import selectors as environment_selectors
from portal.csv_export import csv_stream
from portal.forms import saved
from portal.http import HttpRequest, signed_in

PAGE_SIZE = 100


def _require_table(user: User, action: str) -> None:
    """403 unless ``user`` may ``action`` prices, which belong to no team (asked about an unsaved row)."""
    if not policy.can(user, action, PriceItem()):
        verb = "see" if action == VIEW else "change"
        raise PermissionDenied(f"You may not {verb} the price table.")


@login_required
def price_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require_table(user, VIEW)
    filterset = PriceFilterSet(request.GET, queryset=selectors.price_list(user=user), request=request)
    prices = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    context = {
        "filterset": filterset,
        "page": Paginator(prices, PAGE_SIZE).get_page(request.GET.get("page")),
        "can_change": policy.can(user, CHANGE, PriceItem()),
    }
    template = "costs/_price_table.html" if request.htmx else "costs/price_list.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def price_create(request: HttpRequest) -> HttpResponse:
    """Add a price; a new row with a later start date is how a price changes from a day on."""
    user = signed_in(request)
    _require_table(user, CHANGE)
    initial = {
        key: request.GET[key] for key in ("provider", "region_code", "kind", "size", "unit") if key in request.GET
    }
    form = PriceForm(request.POST or None, initial=initial)
    item = saved(request, form, lambda data: services.price_create(actor=user, **data))
    if item is not None:
        messages.success(request, f"Price added: {item}.")
        return redirect("costs:prices")
    return render(request, "costs/price_form.html", {"form": form, "title": "New price"})


@login_required
@require_http_methods(["GET", "POST"])
def price_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    item = selectors.price_get(user=user, pk=pk)
    policy.require(user, CHANGE, item)
    form = PriceForm(request.POST or None, instance=PriceItem.objects.get(pk=item.pk))
    result = saved(request, form, lambda data: services.price_update(actor=user, price_id=item.pk, **data))
    if result is not None:
        messages.success(request, "Price saved.")
        return redirect("costs:prices")
    return render(request, "costs/price_form.html", {"form": form, "title": f"Edit price: {item}", "item": item})


@login_required
@require_http_methods(["GET", "POST"])
def price_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    item = selectors.price_get(user=user, pk=pk)
    policy.require(user, CHANGE, item)
    if request.method == "POST":
        services.price_delete(actor=user, price_id=item.pk)
        messages.success(request, f"Price deleted: {item}.")
        return redirect("costs:prices")
    return render(
        request,
        "costs/confirm.html",
        {
            "title": f"Delete price {item}?",
            "question": f"Delete the price of {item} from {item.effective_from:%d %b %Y} "
            f"({item.price} {item.currency} {item.get_unit_display()})? Estimates will use the price in force "
            "before it, or report the price as missing.",
            "button": "Delete price",
        },
    )


# --- cost pages -----------------------------------------------------------------------------------


def _require_costs(user: User, action: str = VIEW) -> None:
    """403 unless ``user`` may ``action`` some cost figures (a developer may: their team's)."""
    if not policy.can(user, action, CostRollup):
        verb = "see" if action == VIEW else "export"
        raise PermissionDenied(f"You may not {verb} costs.")


def _basis(request: HttpRequest) -> tuple[str, str]:
    """The cost basis asked for (effective by default), and an error message for anything else.

    The page takes no other parameter: an unknown one is named too, rather than silently ignored.
    """
    problems = [unknown_message(name, ["basis"]) for name in unknown_parameters(request.GET.keys(), ["basis"])]
    basis = request.GET.get("basis", CostBasis.EFFECTIVE) or CostBasis.EFFECTIVE
    if basis not in basis_names():
        problems.append(f"The cost basis is {either(basis_names())}, not {basis!r}; showing effective cost.")
        basis = CostBasis.EFFECTIVE
    return basis, " ".join(problems)


def _charts(result: reports.Breakdown, prefix: str) -> list[dict[str, Any]]:
    """One chart per currency (amounts in different currencies are never stacked together)."""
    charts = []
    for currency in sorted({point.currency for point in result.series}):
        chart = result.chart(currency)
        charts.append({"id": f"{prefix}-{currency.lower()}", "chart": chart, "data": chart.data()})
    return charts


@login_required
@require_GET
def cost_overview(request: HttpRequest) -> HttpResponse:
    """This month against last, the forecast, a 90-day trend, top movers and what no team owns."""
    user = signed_in(request)
    _require_costs(user)
    basis, basis_error = _basis(request)
    today = timezone.localdate()
    overview = reports.overview_page(user, today, basis)
    breakdown_url = reverse("costs:breakdown")
    export_url = reverse("costs:export")
    context = {
        "overview": overview,
        "basis": basis,
        "bases": CostBasis.choices,
        "basis_error": basis_error,
        "trend_charts": _charts(overview.trend, "cost-trend"),
        "trend_export": f"{export_url}?{overview.trend.query.querystring(rows='series')}",
        "movers_url": f"{breakdown_url}?{overview.movers_query.querystring()}",
        "movers_export": f"{export_url}?{overview.movers_query.querystring(rows='movers')}",
        "unallocated_url": f"{breakdown_url}?{overview.unallocated_query.querystring()}",
        "invoices_url": f"{breakdown_url}?"
        + reports.CostQuery(
            start=month_bounds(today)[0],
            end=today,
            by="billing_account",
            grouping=reports.Grouping.MONTH,
            basis=CostBasis.BILLED,
            period=CostPeriod.BILLING,
        ).querystring(),
        "can_export": policy.can(user, EXPORT, CostRollup),
    }
    return render(request, "costs/overview.html", context)


@login_required
@require_GET
def cost_breakdown(request: HttpRequest) -> HttpResponse:
    """Cost by any dimension, drilled down by filters, over a date range; htmx requests get only the results."""
    user = signed_in(request)
    _require_costs(user)
    form = CostQueryForm(request.GET)
    context: dict[str, Any] = {"form": form, "can_export": policy.can(user, EXPORT, CostRollup)}
    if form.is_valid():
        query = form.query()
        result, movers = reports.breakdown_page(user, query)
        previous_start = query.start - timedelta(days=query.days)
        context.update(
            query=query,
            result=result,
            charts=_charts(result, "cost-breakdown"),
            movers=movers,
            previous=(previous_start, query.start - timedelta(days=1)),
            drill=[(row, query.drilled(query.by, row.key)) for row in result.rows],
            applied=[
                (
                    reports.DIMENSIONS[name],
                    reports.DIMENSIONS[name].names_of(list(values), user),
                    query.without_filter(name),
                )
                for name, values in query.filters
            ],
            export_query=query.querystring(),
        )
    # The errors are shown in the results fragment, which htmx swaps in only from a 2xx answer.
    template = "costs/_breakdown_results.html" if request.htmx else "costs/breakdown.html"
    return render(request, template, context)


def _export_etag(request: HttpRequest) -> str | None:
    """The export's entity tag (:func:`costs.exports.export_etag`), for a valid export the person may make."""
    user = request.user
    if not (isinstance(user, User) and policy.can(user, EXPORT, CostRollup)):
        return None
    form = CostQueryForm(request.GET, extra_parameters=["rows"])
    kind = request.GET.get("rows", "totals") or "totals"
    if kind not in exports.KINDS or not form.is_valid():
        return None
    return exports.export_etag(user, form.query(), kind)


@login_required
@require_GET
@condition(etag_func=_export_etag)
def cost_export(request: HttpRequest) -> HttpResponseBase:
    """The breakdown's figures as CSV (``rows``: totals, series or movers), streamed; the export is audited."""
    user = signed_in(request)
    _require_costs(user, EXPORT)
    form = CostQueryForm(request.GET, extra_parameters=["rows"])
    kind = request.GET.get("rows", "totals") or "totals"
    if kind not in exports.KINDS:
        form.is_valid()
        form.add_error(None, f"Export rows as one of {', '.join(exports.KINDS)}, not {kind!r}.")
    if not form.is_valid():
        response = render(request, "costs/breakdown.html", {"form": form, "can_export": True})
        response.status_code = 400
        return response
    export = exports.costs_export(actor=user, query=form.query(), kind=kind)
    return csv_stream(export.lines, filename=export.filename)


@login_required
@require_GET
def environment_cost(request: HttpRequest, pk: int) -> HttpResponse:
    """An environment's cost to date and forecast (to its expiry, or the month's end): a partial of its page."""
    user = signed_in(request)
    environment = environment_selectors.environment_get(user=user, pk=pk)
    if not policy.can(user, VIEW, CostRollup):
        return render(request, "costs/_environment_cost.html", {"environment": environment, "may_see": False})
    today = timezone.localdate()
    horizon = None
    if environment.is_live:
        horizon = month_bounds(today)[1]
        if environment.expires_at is not None:
            horizon = min(horizon, timezone.localdate(environment.expires_at) + timedelta(days=1))
    basis, _ = _basis(request)
    costs = reports.environment_cost(
        user,
        environment_id=environment.pk,
        created=timezone.localdate(environment.created_at),
        horizon=horizon,
        today=today,
        basis=basis,
    )
    context = {
        "environment": environment,
        "may_see": True,
        "costs": costs,
        "horizon": horizon - timedelta(days=1) if horizon is not None else None,
        "breakdown_url": f"{reverse('costs:breakdown')}?"
        + reports.CostQuery(
            start=timezone.localdate(environment.created_at),
            end=today,
            by="service_name",
            filters=(("environment", (str(environment.pk),)),),
        ).querystring(),
    }
    return render(request, "costs/_environment_cost.html", context)
