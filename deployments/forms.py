"""Forms of the deployments pages. They validate; services decide and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from access.models import Team
from deployments.models import Service
from environments.models import Environment


class RollbackForm(forms.Form):
    to_revision = forms.TypedChoiceField(coerce=int, label="Go back to", choices=())
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="Why")
    argocd_acknowledged = forms.BooleanField(
        required=False, label="I have read what Argo CD will do, and roll back anyway"
    )

    def __init__(self, *args: Any, revisions: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_revision"].choices = revisions  # type: ignore[attr-defined]


class FreezeForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    starts_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="From")
    ends_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Until")
    reason = forms.CharField(max_length=500, help_text="Shown to whoever tries to roll back meanwhile.")

    def __init__(self, *args: Any, environments: QuerySet[Environment], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = environments  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "A freeze must end after it starts.")
        return data


PERIODS = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (180, "180 days"), (365, "a year")]


class DoraForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="All teams")
    service = forms.ModelChoiceField(queryset=Service.objects.none(), required=False, empty_label="All services")
    days = forms.TypedChoiceField(coerce=int, choices=PERIODS, initial=30, required=False, label="Period")

    def __init__(self, *args: Any, teams: QuerySet[Team], services: QuerySet[Service], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["service"].queryset = services  # type: ignore[attr-defined]
