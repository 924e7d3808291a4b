"""Forms of the budget pages: the model's rules validate, costs.budgets.services writes."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from access.forms import PeopleChoiceField
from access.models import Team, User
from costs.budgets.models import Budget, BudgetPeriod
from costs.choices import CostPeriod
from deployments.models import Service
from environments.models import Environment


class BudgetForm(forms.ModelForm[Budget]):
    """A budget. The webhook URL is a secret: it is never shown again; leave it empty to keep it."""

    chat_webhook_url = forms.URLField(
        label="Chat webhook URL",
        required=False,
        max_length=2000,
        assume_scheme="https",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A Slack or Teams incoming webhook (https, on a public address), told of every alert. Empty: keep "
        "the one set (or use the portal's). Never shown again once saved.",
    )
    remove_chat_webhook = forms.BooleanField(label="Remove this budget's chat webhook", required=False)

    class Meta:
        model = Budget
        fields = [
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
            "active",
        ]
        help_texts = {
            "actual_thresholds": "Percent of the budget, comma-separated, e.g. 50,80,100: alert when spend so far "
            "passes each.",
            "forecast_thresholds": "Percent of the budget, e.g. 100: alert when the forecast to the period's end "
            "passes each.",
        }

    def __init__(
        self,
        *args: Any,
        teams: QuerySet[Team],
        environments: QuerySet[Environment],
        services: QuerySet[Service],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["environment"].queryset = environments  # type: ignore[attr-defined]
        self.fields["service"].queryset = services  # type: ignore[attr-defined]
        self.fields["notify"] = PeopleChoiceField(
            queryset=User.objects.filter(is_active=True).order_by("first_name", "last_name", "username"),
            label=self.fields["notify"].label,
            help_text=self.fields["notify"].help_text,
            widget=self.fields["notify"].widget,
        )
        self.fields["notify"].required = False
        self.fields["actual_thresholds"].required = False
        self.fields["forecast_thresholds"].required = False
        if self.instance.pk is None:
            del self.fields["remove_chat_webhook"]
        elif self.instance.chat_webhook_url:
            self.fields[
                "chat_webhook_url"
            ].help_text = "A webhook is set (not shown). Enter a new URL to replace it, or tick below to remove it."
        else:
            del self.fields["remove_chat_webhook"]

    def _post_clean(self) -> None:
        # The services validate the budget (with its owner resolved); the form only parses.
        pass


class BudgetFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    period = django_filters.ChoiceFilter(choices=BudgetPeriod.choices)

    class Meta:
        model = Budget
        fields = ["q", "team", "period", "active"]

    def __init__(self, *args: Any, teams: QuerySet[Team] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.filters["team"].queryset = teams


class TeamCostForm(forms.Form):
    """What the team page shows: this month or quarter, effective or billed cost."""

    period = forms.ChoiceField(choices=[("month", "This month"), ("quarter", "This quarter")], required=False)
    basis = forms.ChoiceField(
        choices=[("effective", "Effective (amortised)"), ("billed", "Billed (cash)")], required=False
    )
    reading = forms.ChoiceField(label="Read by", choices=CostPeriod.choices, required=False)
