"""Forms of the scorecard pages: they parse and check what the browser sent, in words; the services decide and write
(and check again)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from scorecards.choices import CheckKind, Level
from scorecards.models import MAX_DAYS, MAX_PERCENT, MIN_DAYS, MIN_PERCENT, Scorecard, ScorecardRule
from scorecards.services import DAYS_MESSAGE, PERCENT_MESSAGE

# Which threshold field each kind takes (the page shows only that one, the others stay hidden).
THRESHOLD_OF = {
    CheckKind.DEPLOYED_WITHIN: "days",
    CheckKind.CHANGE_FAILURE_RATE: "percent",
    CheckKind.SUPPORTED_KUBERNETES: "extended_support",
}


class ScorecardForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="e.g. Production readiness",
        error_messages={
            "required": "Give the scorecard a name, e.g. Production readiness.",
            "max_length": "Keep the name to 100 characters.",
        },
    )
    description = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the scorecard is for, in a sentence.",
        error_messages={"max_length": "Keep the description to 1,000 characters."},
    )

    def __init__(self, data: Any = None, *, instance: Scorecard | None = None) -> None:
        initial = {"name": instance.name, "description": instance.description} if instance is not None else None
        super().__init__(data, initial=initial)


class RuleForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "Choose a check"), *CheckKind.choices],
        label="What it checks",
        error_messages={"required": "Choose what the rule checks.", "invalid_choice": "Choose what the rule checks."},
    )
    level = forms.ChoiceField(
        choices=[("", "Choose a level"), *Level.choices],
        label="Level",
        help_text="A service reaches a level when it passes every rule of that level and of the levels below.",
        error_messages={
            "required": "Choose the level the rule belongs to.",
            "invalid_choice": "Choose the level the rule belongs to.",
        },
    )
    days = forms.IntegerField(
        required=False,
        min_value=MIN_DAYS,
        max_value=MAX_DAYS,
        label="Within how many days",
        help_text=f"From {MIN_DAYS} to {MAX_DAYS}: the last production deployment must be at most this old.",
        error_messages={"invalid": DAYS_MESSAGE, "min_value": DAYS_MESSAGE, "max_value": DAYS_MESSAGE},
    )
    percent = forms.DecimalField(
        required=False,
        max_digits=4,
        decimal_places=1,
        label="Change failure rate under (%)",
        help_text="Above 0 and at most 100, over the last 30 days, e.g. 15.",
        error_messages={
            "invalid": PERCENT_MESSAGE,
            "max_digits": PERCENT_MESSAGE,
            "max_decimal_places": "Give the percentage with at most one decimal place, e.g. 12.5.",
            "max_whole_digits": PERCENT_MESSAGE,
        },
    )
    extended_support = forms.BooleanField(
        required=False,
        initial=True,
        label="Count a version in the cloud's (paid) extended support as supported",
    )
    description = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why it matters",
        help_text="Shown with the rule on every service's scorecard.",
        error_messages={"max_length": "Keep the explanation to 500 characters."},
    )

    def __init__(self, data: Any = None, *, instance: ScorecardRule | None = None) -> None:
        initial = None
        if instance is not None:
            initial = {
                "kind": instance.kind,
                "level": instance.level,
                "days": instance.days,
                "percent": instance.percent,
                "extended_support": instance.extended_support,
                "description": instance.description,
            }
        super().__init__(data, initial=initial)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == CheckKind.DEPLOYED_WITHIN and data.get("days") is None and "days" not in self.errors:
            self.add_error("days", DAYS_MESSAGE)
        if kind == CheckKind.CHANGE_FAILURE_RATE and "percent" not in self.errors:
            percent: Decimal | None = data.get("percent")
            if percent is None or not MIN_PERCENT <= percent <= MAX_PERCENT:
                self.add_error("percent", PERCENT_MESSAGE)
        # A threshold the kind does not take is not kept (the service clears it too).
        if kind != CheckKind.DEPLOYED_WITHIN:
            data["days"] = None
            self.errors.pop("days", None)
        if kind != CheckKind.CHANGE_FAILURE_RATE:
            data["percent"] = None
            self.errors.pop("percent", None)
        if kind != CheckKind.SUPPORTED_KUBERNETES:
            data["extended_support"] = True
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data.get(name) for name in ("kind", "level", "days", "percent", "extended_support", "description")
        }
