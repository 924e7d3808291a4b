"""The price form: the model's rules validate it; the services write."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from costs import reports
from costs.choices import CostBasis, CostPeriod
from costs.dates import EARLIEST_DAY, refuse_days_outside
from costs.models import PriceItem

# The cost bases a page or the API may ask for (the page's select, the API's enum and the checks all read this).
BASIS_CHOICES = list(CostBasis.choices)
# The parameters of a cost query besides one filter per dimension (reports.DIMENSIONS).
QUERY_PARAMETERS = ("by", "from", "to", "grouping", "basis", "period")


def basis_names() -> list[str]:
    return [str(value) for value, _ in BASIS_CHOICES]


def either(names: list[str]) -> str:
    """``a, b or c``."""
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def unknown_parameters(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """The names in ``names`` that are not in ``known``, in the order given, once each."""
    allowed = set(known)
    return list(dict.fromkeys(name for name in names if name not in allowed))


def unknown_message(name: str, known: Iterable[str]) -> str:
    return f"Unknown parameter {name!r}; the parameters are: {', '.join(known)}."


class PriceForm(forms.ModelForm[PriceItem]):
    class Meta:
        model = PriceItem
        fields = ["provider", "region_code", "kind", "size", "unit", "price", "currency", "effective_from", "note"]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


class FilterValues(forms.Field):
    """A drill-down filter: the values of one dimension, from repeated URL parameters (``?team=a&team=b``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        return [str(item).strip() for item in values if str(item).strip()]


class CostQueryForm(forms.Form):
    """What a cost page or the cost API reads: the breakdown's dimension, date range, grouping, basis, filters.

    Every parameter is optional (the defaults are the last 30 days by team, daily, effective cost); a bad
    one is named with what would be accepted instead. Parameters ``from`` and ``to`` include both days.
    """

    by = forms.ChoiceField(
        label="Break down by",
        required=False,
        choices=[(name, dimension.label) for name, dimension in reports.DIMENSIONS.items()],
        error_messages={
            "invalid_choice": "Cannot break costs down by %(value)s: choose one of "
            + ", ".join(reports.DIMENSIONS)
            + "."
        },
    )
    grouping = forms.ChoiceField(
        label="Grouping",
        required=False,
        choices=reports.Grouping.CHOICES,
        error_messages={"invalid_choice": "Group by day, week or month, not %(value)s."},
    )
    basis = forms.ChoiceField(
        label="Cost",
        required=False,
        choices=BASIS_CHOICES,
        error_messages={"invalid_choice": f"The cost basis is {either(basis_names())}, not %(value)s."},
    )
    period = forms.ChoiceField(
        label="Read by",
        required=False,
        choices=CostPeriod.choices,
        error_messages={
            "invalid_choice": "Read costs by charge period (when incurred) or billing period (invoice), not %(value)s."
        },
    )

    DEFAULT_DAYS = 30

    def __init__(
        self, *args: Any, today: date | None = None, extra_parameters: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        self.extra_parameters = tuple(extra_parameters)
        self.unknown: dict[str, str] = {}
        date_errors = {"invalid": "Enter a date as YYYY-MM-DD, e.g. 2026-11-01."}
        self.fields["from"] = forms.DateField(
            label="From",
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages=date_errors,
        )
        self.fields["to"] = forms.DateField(
            label="To",
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages=date_errors,
        )
        for name, dimension in reports.DIMENSIONS.items():
            self.fields[name] = FilterValues(label=dimension.label, required=False)
        self.order_fields(list(QUERY_PARAMETERS))

    @property
    def parameters(self) -> list[str]:
        """Every parameter this query takes: its own, one filter per dimension, and the caller's extras."""
        return [*QUERY_PARAMETERS, *reports.DIMENSIONS, *self.extra_parameters]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        known = self.parameters
        for name in unknown_parameters(self.data.keys(), known):
            self.unknown[name] = unknown_message(name, known)
            self.add_error(None, self.unknown[name])
        for name, dimension in reports.DIMENSIONS.items():
            if not dimension.choices:
                continue
            for value in data.get(name) or []:
                if value != reports.NONE and value not in dimension.choices:
                    self.add_error(
                        name,
                        f"{value!r} is not a {dimension.label.lower()}; the values are "
                        f"{', '.join(dimension.choices)} (or {reports.NONE} for none).",
                    )
        refuse_days_outside(self, data, ("from", "to"), self.today)
        if "from" in self.errors or "to" in self.errors:
            return data
        end = data.get("to") or self.today
        start = data.get("from") or max(end - timedelta(days=self.DEFAULT_DAYS - 1), EARLIEST_DAY)
        if start > end:
            self.add_error("from", f"The range starts ({start:%Y-%m-%d}) after it ends ({end:%Y-%m-%d}).")
        elif (end - start).days + 1 > reports.MAX_DAYS:
            self.add_error("from", f"A range is at most {reports.MAX_DAYS} days; narrow it or group by month.")
        for value in data.get("environment") or []:
            if value != reports.NONE and not value.isdigit():
                self.add_error("environment", f"An environment is named by its id (a number), not {value!r}.")
        data["from"], data["to"] = start, end
        return data

    def query(self) -> reports.CostQuery:
        """The validated query (call after ``is_valid()``)."""
        data = self.cleaned_data
        filters = tuple((name, tuple(data[name])) for name in reports.DIMENSIONS if data.get(name))
        period = data.get("period") or CostPeriod.CHARGE
        return reports.CostQuery(
            start=data["from"],
            end=data["to"],
            by=data.get("by") or "team",
            grouping=data.get("grouping") or reports.Grouping.DAY,
            basis=data.get("basis") or CostBasis.EFFECTIVE,
            filters=filters,
            period=period,
        )

    def default_query(self) -> reports.CostQuery:
        """The query with defaults only, to show an empty page next to the errors."""
        end = self.today
        return reports.CostQuery(start=end - timedelta(days=self.DEFAULT_DAYS - 1), end=end)

    def messages(self) -> dict[str, list[str]]:
        """The errors by parameter name, as the API reports them (an unknown parameter under its own name)."""
        found = {name: [str(message) for message in messages] for name, messages in self.errors.items()}
        general = [message for message in found.pop("__all__", []) if message not in self.unknown.values()]
        found.update({name: [message] for name, message in self.unknown.items()})
        if general:
            found["non_field_errors"] = general
        return found
