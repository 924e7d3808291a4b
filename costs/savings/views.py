"""The savings page: recommendations with their monthly saving and evidence, realised TTL savings, CSV, and actions.

Everyone who holds ``costs.view`` opens it and sees what their grants cover
(a developer their team's, a manager everything); the rows come from the
savings task, never from a driver call in the request. Dismissing and
snoozing take ``costs.change`` on the recommendation; setting a lifetime takes
``environments.change`` on the environment (checked again by its service).
Every action is a POST, audited, and safe to submit twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from access import policy
from access.audit import services as audit
from access.models import Team, User
from access.permissions import CHANGE, EXPORT, VIEW
from costs.choices import RecommendationAction, RecommendationKind
from costs.forecast import month_bounds
from costs.models import CostSource, Recommendation
from costs.savings import services as savings
from portal.csv_export import csv_file, csv_lines
from portal.http import HttpRequest, signed_in

SNOOZE_DAYS = savings.SNOOZE_DAYS
CSV_COLUMNS = [
    "kind",
    "title",
    "monthly_saving",
    "currency",
    "team",
    "environment",
    "cluster",
    "namespace",
    "resource",
    "status",
    "evidence",
    "computed_at",
]


class SavingsFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    kind = forms.ChoiceField(
        required=False,
        label="Kind",
        choices=[
            ("", "Any"),
            *[(kind.value, kind.label) for kind in RecommendationKind if kind.value != "ttl_realised"],
        ],
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, label="Team", empty_label="Any")

    def __init__(self, *args: object, teams: QuerySet[Team], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)  # noqa: S101 (declared above)
        team_field.queryset = teams


class CommitmentMonthForm(forms.Form):
    """The month the commitments' utilisation and coverage are shown for (this month when not given)."""

    commitments_month = forms.DateField(
        required=False,
        label="Commitments in",
        input_formats=["%Y-%m"],
        error_messages={"invalid": "Give a month such as 2026-06."},
    )


def _commitments(request: HttpRequest, user: User) -> tuple[CommitmentMonthForm, date, list[savings.CommitmentUse]]:
    """The commitments of the chosen month, for people who see the whole organisation's costs (a commitment is
    bought for a billing account, not for a team); nobody else gets any."""
    form = CommitmentMonthForm(request.GET or None)
    chosen = form.cleaned_data.get("commitments_month") if form.is_valid() else None
    start, end = month_bounds(chosen or timezone.localdate())
    if form.errors or not policy.can(user, VIEW, CostSource()):
        return form, start, []
    return form, start, savings.commitment_use(start=start, end=end)


def _percent(fraction: Decimal | None) -> str:
    return "" if fraction is None else f"{(fraction * 100).quantize(Decimal('0.1'))}"


def _require(user: User, action: str) -> None:
    """403 unless ``user`` may ``action`` some recommendation (within their grants)."""
    if not policy.can(user, action, Recommendation):
        verb = {VIEW: "see", EXPORT: "export"}.get(action, "change")
        raise PermissionDenied(f"You may not {verb} savings recommendations.")


def _filtered(request: HttpRequest, user: User) -> tuple[SavingsFilterForm, QuerySet[Recommendation]]:
    form = SavingsFilterForm(request.GET or None, teams=savings.recommendation_filter_teams(user=user))
    rows = savings.recommendation_list(user=user)
    if form.is_valid():
        data = form.cleaned_data
        rows = savings.recommendation_search(rows, text=data["q"], kind=data["kind"], team=data["team"])
    elif form.is_bound:
        rows = rows.none()
    return form, rows.order_by("-monthly_saving", "pk")


def _chart(totals: list[tuple[str, str, Decimal, int]]) -> dict[str, object]:
    """Savings per kind, one dataset per currency (never added together)."""
    labels = sorted({label for label, _, _, _ in totals})
    by_currency: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for label, currency, total, _ in totals:
        by_currency[currency][label] = total
    return {
        "labels": labels,
        "datasets": [
            {"label": f"{currency} a month", "data": [float(amounts.get(label, 0)) for label in labels]}
            for currency, amounts in sorted(by_currency.items())
        ],
    }


@login_required
@require_GET
def savings_page(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, VIEW)
    form, rows = _filtered(request, user)
    recommendations = list(rows)
    totals = savings.totals_by_kind(recommendations)
    month_start, _ = month_bounds(timezone.localdate())
    realised = list(savings.realised_list(user=user, month_start=month_start))
    realised_totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in realised:
        realised_totals[row.currency] += row.monthly_saving
    editable = {row.pk for row in recommendations if policy.can(user, CHANGE, row)}
    environments = {row.environment for row in recommendations if row.environment is not None}
    ttl_allowed = {environment.pk for environment in environments if policy.can(user, CHANGE, environment)}
    context = {
        "form": form,
        "recommendations": recommendations,
        "totals": totals,
        "chart_data": _chart(totals),
        "realised": realised,
        "realised_totals": sorted(realised_totals.items()),
        "month_start": month_start,
        "editable": editable,
        "ttl_allowed": ttl_allowed,
        "set_ttl": RecommendationAction.SET_TTL,
        "snooze_days": SNOOZE_DAYS,
        "can_export": policy.can(user, EXPORT, Recommendation),
        "computed_at": Recommendation.objects.order_by("-computed_at").values_list("computed_at", flat=True).first(),
    }
    commitments_form, commitments_month, commitments = _commitments(request, user)
    context.update(
        {
            "commitments_form": commitments_form,
            "commitments_month": commitments_month,
            "commitments": [(row, _percent(row.utilisation), _percent(row.coverage)) for row in commitments],
            "sees_commitments": policy.can(user, VIEW, CostSource()),
        }
    )
    template = "costs/_savings_table.html" if request.htmx else "costs/savings.html"
    return render(request, template, context)


@login_required
@require_GET
def savings_export(request: HttpRequest) -> HttpResponse:
    """The recommendations the page shows (same filters, same scope) and this month's realised savings, as CSV."""
    user = signed_in(request)
    _require(user, EXPORT)
    if request.GET.get("part") == "commitments":
        return _commitments_export(request, user)
    _, rows = _filtered(request, user)
    rows = policy.restrict(rows, user, EXPORT)
    month_start, _ = month_bounds(timezone.localdate())
    realised = policy.restrict(savings.realised_list(user=user, month_start=month_start), user, EXPORT)
    audit.record(audit.COSTS_EXPORTED, None, actor=user, export="savings", parameters=request.GET.dict())
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    lines = [
        [
            row.kind,
            row.title,
            row.monthly_saving,
            row.currency,
            row.team.slug if row.team else "",
            row.environment.name if row.environment else "",
            row.cluster.name if row.cluster else "",
            row.namespace,
            row.resource,
            "realised" if row.realised else row.status,
            " ".join(row.evidence),
            row.computed_at.isoformat(),
        ]
        for row in [*rows.select_related("team", "environment", "cluster"), *realised.select_related("cluster")]
    ]
    return csv_file(csv_lines(CSV_COLUMNS, lines), filename=f"savings-{stamp}.csv")


COMMITMENT_CSV_COLUMNS = [
    "commitment_discount_id",
    "provider",
    "billing_account_id",
    "month",
    "currency",
    "used",
    "unused",
    "purchased",
    "utilisation_percent",
    "on_demand_on_covered_resources",
    "coverage_percent",
]


def _commitments_export(request: HttpRequest, user: User) -> HttpResponse:
    """The commitments the page shows for the chosen month, as CSV (people who see the organisation's costs)."""
    if not policy.can(user, VIEW, CostSource()):
        raise PermissionDenied("You may not see the organisation's commitments.")
    form, month, rows = _commitments(request, user)
    if form.errors:
        return HttpResponse(
            " ".join(str(message) for message in form.errors["commitments_month"]),
            status=400,
            content_type="text/plain",
        )
    audit.record(audit.COSTS_EXPORTED, None, actor=user, export="commitments", parameters=request.GET.dict())
    lines = [
        [
            row.commitment_id,
            row.provider,
            row.billing_account_id,
            f"{month:%Y-%m}",
            row.currency,
            row.used,
            row.unused,
            row.purchased,
            _percent(row.utilisation),
            row.on_demand,
            _percent(row.coverage),
        ]
        for row in rows
    ]
    return csv_file(csv_lines(COMMITMENT_CSV_COLUMNS, lines), filename=f"commitments-{month:%Y-%m}.csv")


def _done(request: HttpRequest, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect("costs:savings")


def _refused(request: HttpRequest, error: ValidationError) -> HttpResponse:
    for message in error.messages:
        messages.error(request, message)
    return redirect("costs:savings")


def _visible(user: User, pk: int) -> Recommendation:
    """The recommendation if ``user`` may see it (404 otherwise)."""
    return savings.recommendation_visible(user=user, recommendation_id=pk)


@login_required
@require_POST
def savings_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    recommendation = _visible(user, pk)
    policy.require(user, CHANGE, recommendation)
    savings.recommendation_dismiss(actor=user, recommendation_id=recommendation.pk)
    return _done(request, f"Dismissed: {recommendation.title}.")


@login_required
@require_POST
def savings_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    recommendation = _visible(user, pk)
    policy.require(user, CHANGE, recommendation)
    try:
        days = int(request.POST.get("days", SNOOZE_DAYS))
    except ValueError:
        days = 0
    try:
        savings.recommendation_snooze(actor=user, recommendation_id=recommendation.pk, days=days)
    except ValidationError as error:
        return _refused(request, error)
    return _done(request, f"Snoozed for {days} days: {recommendation.title}.")


@login_required
@require_POST
def savings_set_ttl(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the lifetime the recommendation names on its environment (environments.change, audited there)."""
    user = signed_in(request)
    recommendation = _visible(user, pk)
    try:
        environment = savings.recommendation_ttl_environment(user=user, recommendation=recommendation)
        savings.recommendation_set_ttl(actor=user, recommendation_id=recommendation.pk)
    except ValidationError as error:
        return _refused(request, error)
    return _done(request, f"{environment.name} now expires in {recommendation.action_hours} hours.")
