"""API of budgets (read for whoever may see them, write with ``costs.change``), their status, and anomalies.

As the pages: lists are scoped by the policy (a team's members see their
team's), writes go through :mod:`costs.budgets.services` (policy re-checked, audited),
and refusals come back as structured errors (portal/api/errors.py).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.api.fields import VisiblePrimaryKeyRelatedField, VisibleSlugRelatedField
from access.models import Team, User
from costs.api.parameters import KnownQueryParameters
from costs.budgets import anomalies
from costs.budgets import services as budgets
from costs.budgets.models import Anomaly, Budget, BudgetAlert
from deployments.models import Service
from environments.models import Environment
from portal.api.permissions import SignedIn
from portal.api.viewsets import ScopedReadOnlyViewSet


class CurrentPeriodSerializer(serializers.Serializer[Any]):
    """A budget's current period, as ``status`` gives it, with the number of alerts the period has raised."""

    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Exclusive.")
    actual = serializers.DecimalField(max_digits=28, decimal_places=10, help_text="Spent on the complete days.")
    forecast = serializers.DecimalField(max_digits=28, decimal_places=10, help_text="Expected by the period's end.")
    percent_actual = serializers.DecimalField(max_digits=12, decimal_places=1)
    percent_forecast = serializers.DecimalField(max_digits=12, decimal_places=1)
    alerts = serializers.IntegerField()


class BudgetSerializer(serializers.ModelSerializer[Budget]):
    team = VisibleSlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    environment = VisiblePrimaryKeyRelatedField(queryset=Environment.objects.all(), required=False, allow_null=True)
    service = VisibleSlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, allow_null=True
    )
    notify = VisibleSlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), many=True, required=False
    )
    # Checked (and upper-cased) by the service, so "eur" is taken as EUR.
    currency = serializers.CharField(max_length=3, required=False)
    chat_webhook_url = serializers.URLField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Write only; empty removes it. https on a public address (docs/operations.md, Outbound requests).",
    )
    has_chat_webhook = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Budget
        fields = [
            "id",
            "name",
            "team",
            "environment",
            "service",
            "period",
            "amount",
            "currency",
            "basis",
            "actual_thresholds",
            "forecast_thresholds",
            "notify",
            "chat_webhook_url",
            "has_chat_webhook",
            "active",
            "current",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]

    def get_has_chat_webhook(self, budget: Budget) -> bool:
        return bool(budget.chat_webhook_url)

    @extend_schema_field(CurrentPeriodSerializer)
    def get_current(self, budget: Budget) -> dict[str, Any]:
        """The current period's spend, forecast and alerts: read for the whole page by the list, else here."""
        periods = self.context.get("current_periods")
        if periods is None or budget.pk not in periods:
            periods = budgets.budget_current_periods([budget], today=timezone.localdate())
        current, alerts = periods[budget.pk]
        return CurrentPeriodSerializer(
            {
                "period_start": current.start,
                "period_end": current.end,
                "actual": current.actual,
                "forecast": current.expected,
                "percent_actual": current.percent_actual,
                "percent_forecast": current.percent_forecast,
                "alerts": alerts,
            }
        ).data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's rules run in the service, once the owner team is resolved.
        return attrs


class BudgetAlertSerializer(serializers.ModelSerializer[BudgetAlert]):
    class Meta:
        model = BudgetAlert
        fields = ["id", "period_start", "kind", "threshold", "spend", "amount", "currency", "created_at", "chat_status"]
        read_only_fields = fields


class AnomalySerializer(serializers.ModelSerializer[Anomaly]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Anomaly
        fields = [
            "id",
            "scope",
            "team",
            "service",
            "day",
            "currency",
            "spend",
            "baseline_mean",
            "baseline_stddev",
            "baseline_days",
            "contributors",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn let only people through)
    return user


class BudgetPermission(SignedIn):
    """Reading: anyone signed in (the list is scoped). Adding: ``costs.change`` on some team, asked before
    the body is read. Changing or deleting one budget: it is looked up among those the caller may see
    first (404 whether it is missing or out of scope), then ``costs.change`` on it is required (403)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or getattr(view, "detail", False):
            return super().has_permission(request, view)
        return policy.can(request.user, policy.CHANGE, Budget)


class BudgetViewSet(KnownQueryParameters, ScopedReadOnlyViewSet, viewsets.ModelViewSet[Budget]):
    """Budgets the caller may see; ``status`` is a budget's spend and forecast in its current period."""

    selector = budgets.budget_list
    queryset = Budget.objects.all()
    serializer_class = BudgetSerializer
    permission_classes = [BudgetPermission]

    def get_queryset(self) -> Any:
        return super().get_queryset().prefetch_related("notify")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # noqa: S101 (every list of the API is paginated)
        context = {
            **self.get_serializer_context(),
            "current_periods": budgets.budget_current_periods(page, today=timezone.localdate()),
        }
        return self.get_paginated_response(self.get_serializer(page, many=True, context=context).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        budget = budgets.budget_create(actor=_actor(request), **data.validated_data)
        return Response(self.get_serializer(budget).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        budget = self.get_object()
        policy.require(request.user, policy.CHANGE, budget)  # seen but not changeable: 403
        data = self.get_serializer(budget, data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        updated = budgets.budget_update(actor=_actor(request), budget_id=budget.pk, **data.validated_data)
        return Response(self.get_serializer(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        budget = self.get_object()
        policy.require(request.user, policy.CHANGE, budget)
        budgets.budget_delete(actor=_actor(request), budget_id=budget.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def status(self, request: Request, pk: str, **kwargs: Any) -> Response:
        """Spend on the complete days of the current period, the forecast to its end, and the alerts of the period."""
        budget = self.get_object()
        current = budgets.budget_status(budget)
        alerts = budget.alerts.filter(period_start=current.start).order_by("created_at", "pk")
        return Response(
            {
                "period_start": current.start,
                "period_end": current.end,
                "currency": budget.currency,
                "basis": budget.basis,
                "amount": str(budget.amount),
                "actual": str(current.actual),
                "forecast": str(current.expected),
                "daily_rate": str(current.forecast.daily_rate),
                "days_left": current.forecast.days_left,
                "percent_actual": str(current.percent_actual),
                "percent_forecast": str(current.percent_forecast),
                "not_counted": {currency: str(amount) for currency, amount in current.other_currencies.items()},
                "alerts": BudgetAlertSerializer(alerts, many=True).data,
            }
        )


class AnomalyViewSet(KnownQueryParameters, ScopedReadOnlyViewSet):
    """Anomalies in daily spend the caller may see, newest day first."""

    selector = anomalies.anomaly_list
    queryset = Anomaly.objects.all()
    serializer_class = AnomalySerializer
    permission_classes = [SignedIn]
