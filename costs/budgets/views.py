"""Budget pages (list, page with burn, add, edit, delete), the anomalies list and a team's cost page.

Views are thin: the policy scopes every list and object (out of scope is a
404, seen but not changeable a 403), :mod:`costs.budgets.services` reads and writes.
Budgets belong to a team: a team's developers and leads see its budgets and
its cost page; setting budgets needs ``costs.change`` (managers, admins); the
team page's CSV needs ``costs.export``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from access import policy
from access.audit import services as audit
from access.models import Team, User
from access.permissions import CHANGE, EXPORT, VIEW
from costs.budgets import anomalies
from costs.budgets import services as budgets
from costs.budgets.forms import BudgetFilterSet, BudgetForm, TeamCostForm
from costs.budgets.models import Anomaly, Budget
from costs.choices import CostPeriod
from costs.forecast import Forecast, cost_column, forecast_period, month_bounds, quarter_bounds
from costs.models import CostRollup
from deployments.models import Service
from environments.models import Environment
from portal.csv_export import csv_file, csv_lines
from portal.forms import saved
from portal.http import HttpRequest, signed_in

PAGE_SIZE = 50


def _teams_for_budgets(user: User) -> QuerySet[Team]:
    """Teams ``user`` may set budgets for (``costs.change`` on the team)."""
    teams = Team.objects.order_by("name")
    allowed = [team.pk for team in teams if policy.can(user, CHANGE, Budget(team=team))]
    return Team.objects.filter(pk__in=allowed).order_by("name")


def _budget_form(request: HttpRequest, user: User, instance: Budget | None = None) -> BudgetForm:
    teams = _teams_for_budgets(user)
    form = BudgetForm(
        request.POST or None,
        instance=instance,
        teams=teams,
        # Of those teams, only the environments and services the person may see: the choices are a list too.
        environments=policy.restrict(Environment.objects.filter(team__in=teams), user, VIEW)
        .select_related("team")
        .order_by("team__name", "name"),
        services=policy.restrict(Service.objects.filter(team__in=teams), user, VIEW).order_by("name"),
    )
    form.fields["team"].required = False
    return form


def _budget_data(data: dict[str, Any], *, editing: bool) -> dict[str, Any]:
    """The form's data as the service takes it (the webhook: None keeps, "" removes)."""
    fields = dict(data)
    remove = fields.pop("remove_chat_webhook", False)
    webhook = fields.pop("chat_webhook_url", "") or ""
    if remove:
        fields["chat_webhook_url"] = ""
    elif webhook or not editing:
        fields["chat_webhook_url"] = webhook
    for name in ("actual_thresholds", "forecast_thresholds"):
        fields[name] = fields.get(name) or []
    return fields


# --- budgets --------------------------------------------------------------------------------


@login_required
@require_GET
def budget_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not policy.can(user, VIEW, Budget):
        raise PermissionDenied("You may not see budgets.")
    visible_teams = policy.restrict(Team.objects.all(), user, VIEW).order_by("name")
    filterset = BudgetFilterSet(request.GET, queryset=budgets.budget_list(user=user), teams=visible_teams)
    found = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "statuses": budgets.budget_statuses(list(page), today=timezone.localdate()),
        "can_add": policy.can(user, CHANGE, Budget),
    }
    template = "costs/_budget_table.html" if request.htmx else "costs/budget_list.html"
    return render(request, template, context)


@login_required
@require_GET
def budget_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    budget = budgets.budget_get(user=user, pk=pk)
    status = budgets.budget_status(budget)
    context = {
        "budget": budget,
        "status": status,
        "chart": status.chart(),
        "alerts": budget.alerts.order_by("-created_at", "-pk")[:50],
        "can_change": policy.can(user, CHANGE, budget),
    }
    return render(request, "costs/budget_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def budget_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not policy.can(user, CHANGE, Budget):
        raise PermissionDenied("You may not set budgets.")
    form = _budget_form(request, user)
    if request.method == "GET" and "team" in request.GET:
        form.initial["team"] = request.GET["team"]
    budget = saved(request, form, lambda data: budgets.budget_create(actor=user, **_budget_data(data, editing=False)))
    if budget is not None:
        messages.success(request, f"Budget {budget} set.")
        return redirect("costs:budget", pk=budget.pk)
    return render(request, "costs/budget_form.html", {"form": form, "title": "New budget"})


@login_required
@require_http_methods(["GET", "POST"])
def budget_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    budget = budgets.budget_get(user=user, pk=pk)
    policy.require(user, CHANGE, budget)
    form = _budget_form(request, user, instance=Budget.objects.get(pk=budget.pk))
    updated = saved(
        request,
        form,
        lambda data: budgets.budget_update(actor=user, budget_id=budget.pk, **_budget_data(data, editing=True)),
    )
    if updated is not None:
        messages.success(request, f"Budget {updated} saved.")
        return redirect("costs:budget", pk=updated.pk)
    return render(request, "costs/budget_form.html", {"form": form, "title": f"Edit {budget}", "budget": budget})


@login_required
@require_http_methods(["GET", "POST"])
def budget_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    budget = budgets.budget_get(user=user, pk=pk)
    policy.require(user, CHANGE, budget)
    if request.method == "POST":
        budgets.budget_delete(actor=user, budget_id=budget.pk)
        messages.success(request, f"Budget {budget} deleted.")
        return redirect("costs:budgets")
    return render(
        request,
        "costs/budget_delete.html",
        {
            "budget": budget,
            "title": f"Delete budget {budget}?",
            "question": f"Delete the {budget.get_period_display().lower()} budget of {budget.amount} "
            f"{budget.currency} for {budget.scope_label}, with its {budget.alerts.count()} recorded alert(s)? "
            "The cost itself is not touched.",
            "button": "Delete budget",
        },
    )


# --- anomalies ------------------------------------------------------------------------------


@login_required
@require_GET
def anomaly_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not policy.can(user, VIEW, Anomaly):
        raise PermissionDenied("You may not see cost anomalies.")
    found = anomalies.anomaly_list(user=user)
    team = request.GET.get("team", "")
    if team:
        found = found.filter(team__slug=team)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "costs/anomaly_list.html", {"page": page, "team": team})


# --- a team's cost page ---------------------------------------------------------------------


def _team_for_costs(user: User, slug: str) -> Team:
    """The team, if ``user`` may see its cost (a team's developers may; others need a grant): else 404."""
    team = get_object_or_404(Team, slug=slug)
    if not policy.can(user, VIEW, CostRollup(team=team)):
        raise Http404("Not found.")
    return team


def _period(form: TeamCostForm, today: date) -> tuple[str, date, date]:
    period = (form.cleaned_data.get("period") if form.is_valid() else "") or "month"
    start, end = quarter_bounds(today) if period == "quarter" else month_bounds(today)
    return period, start, end


def _grouped(rollups: QuerySet[CostRollup], field: str, label: str, column: str) -> list[dict[str, Any]]:
    rows = (
        rollups.values(field, label, "currency")
        .annotate(total=Sum(column))
        .order_by("currency", "-total", label)
        .values_list(field, label, "currency", "total")
    )
    return [{"id": pk, "name": name, "currency": currency, "total": total} for pk, name, currency, total in rows]


def team_cost_context(user: User, team: Team, form: TeamCostForm, today: date) -> dict[str, Any]:
    period, start, end = _period(form, today)
    basis = (form.cleaned_data.get("basis") if form.is_valid() else "") or "effective"
    reading = (form.cleaned_data.get("reading") if form.is_valid() else "") or CostPeriod.CHARGE
    column = cost_column(basis)
    team_rollups = policy.restrict(CostRollup.objects.filter(team=team), user, VIEW)
    rollups = team_rollups.filter(day__gte=start, day__lt=end)
    # The tables: what the period's days cost, or what its invoices charged (corrections of earlier months
    # included); so far either way: cost dated after today (a charge spread over a month to come) is not spent.
    date_field = "billing_period_start" if reading == CostPeriod.BILLING else "day"
    so_far = team_rollups.filter(**{f"{date_field}__gte": start, f"{date_field}__lt": end}, day__lte=today)
    daily: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for currency, day, total in (
        rollups.values_list("currency", "day")
        .annotate(total=Sum(column))
        .order_by()
        .values_list("currency", "day", "total")
    ):
        daily[currency][day] = total
    forecasts: dict[str, Forecast] = {
        currency: forecast_period(days, start, end, today) for currency, days in sorted(daily.items())
    }
    team_budgets = list(budgets.budget_list(user=user).filter(team=team))
    statuses = budgets.budget_statuses(team_budgets, today=today)
    return {
        "team": team,
        "form": form,
        "period": period,
        "basis": basis,
        "start": start,
        "end": end,
        "last_day": end - timedelta(days=1),
        "forecasts": forecasts,
        "statuses": statuses,
        "burns": [(status, f"burn-{status.budget.pk}", status.chart()) for status in statuses],
        "reading": reading,
        "by_service": _grouped(so_far, "service_id", "service__name", column),
        "by_environment": _grouped(so_far, "environment_id", "environment__name", column),
        "anomalies": anomalies.anomaly_list(user=user).filter(team=team)[:10],
        "can_export": policy.can(user, EXPORT, CostRollup(team=team)),
        "can_add_budget": policy.can(user, CHANGE, Budget(team=team)),
    }


@login_required
@require_GET
def team_costs(request: HttpRequest, slug: str) -> HttpResponse:
    user = signed_in(request)
    team = _team_for_costs(user, slug)
    context = team_cost_context(user, team, TeamCostForm(request.GET), timezone.localdate())
    return render(request, "costs/team.html", context)


@login_required
@require_GET
def team_costs_export(request: HttpRequest, slug: str) -> HttpResponse:
    """The team page's tables as CSV: spend by service and by environment for the period (``costs.export``)."""
    user = signed_in(request)
    team = _team_for_costs(user, slug)
    policy.require(user, EXPORT, CostRollup(team=team))
    context = team_cost_context(user, team, TeamCostForm(request.GET), timezone.localdate())
    filename = f"costs-{team.slug}-{context['start']:%Y-%m-%d}-{context['basis']}.csv"
    header = ["team", "period_start", "period_end_exclusive", "basis", "read_by", "by", "name", "currency", "amount"]
    start, end, basis, reading = context["start"], context["end"], context["basis"], context["reading"]
    rows = [
        [team.slug, start, end, basis, reading, by, row["name"] or f"(no {by})", row["currency"], row["total"]]
        for by, grouped in (("service", context["by_service"]), ("environment", context["by_environment"]))
        for row in grouped
    ]
    response = csv_file(csv_lines(header, rows), filename=filename)
    audit.record(
        audit.COSTS_TEAM_EXPORTED,
        team,
        actor=user,
        team=team,
        what="team costs",
        period_start=context["start"],
        basis=context["basis"],
    )
    return response
