"""Forms of the deployments pages (catalogue, rollback, freezes, DORA): they parse and check what the browser
sent; the services decide and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from access.models import Team
from deployments.models import Service
from environments.choices import NamespaceGroup
from environments.models import Environment
from portal.bounds import TEXT_MAX


class RevisionField(forms.TypedChoiceField):
    """A select of the revisions offered that accepts any revision number.

    Whether a revision may be gone back to is the rollback service's call: it
    asks the cluster again when the form is sent (what runs may have changed
    since the page was drawn) and says in words why one is refused.
    """

    def valid_value(self, value: Any) -> bool:
        return True


class RollbackForm(forms.Form):
    to_revision = RevisionField(
        coerce=int, label="Go back to", choices=(), error_messages={"invalid_choice": "Choose a revision."}
    )
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


class LinksField(forms.CharField):
    """Links, one a line, as ``Label | https://...``; the catalogue checks the URLs."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "One a line: Label | URL, e.g. Dashboard | https://grafana.example.com/d/checkout"
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(f"{link.get('label', '')} | {link.get('url', '')}" for link in value)
        return value

    def to_python(self, value: Any) -> list[dict[str, str]]:  # type: ignore[override]
        links = []
        problems = []
        text = super().to_python(value) or ""
        for number, line in enumerate(str(text).splitlines(), start=1):
            if not line.strip():
                continue
            label, bar, url = line.partition("|")
            if not bar:
                problems.append(f"Line {number}: write it as Label | URL.")
                continue
            links.append({"label": label.strip(), "url": url.strip()})
        if problems:
            raise forms.ValidationError(problems)
        return links


class ServiceForm(forms.Form):
    slug = forms.SlugField(max_length=63, help_text="Matches the workloads' labels, e.g. checkout.")
    name = forms.CharField(max_length=200)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), label="Owner team", empty_label=None)
    namespace_group = forms.ChoiceField(choices=NamespaceGroup.choices, label="Namespace group")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=TEXT_MAX)
    repository_url = forms.CharField(
        max_length=500, required=False, label="Repository URL", help_text="https:// or ssh://"
    )
    runbook_url = forms.URLField(
        max_length=500,
        required=False,
        label="Runbook URL",
        assume_scheme="https",
        help_text="Where whoever is woken at night reads how to run and fix it (https://).",
    )
    oncall_url = forms.URLField(
        max_length=500,
        required=False,
        label="On-call URL",
        assume_scheme="https",
        help_text="Who is on call for it now: a PagerDuty or Opsgenie schedule, a rota page (https://).",
    )
    links = LinksField()

    def __init__(self, data: Any = None, *, teams: QuerySet[Team], instance: Service | None = None) -> None:
        initial = None
        if instance is not None:
            initial = {
                "slug": instance.slug,
                "name": instance.name,
                "team": instance.team_id,
                "namespace_group": instance.namespace_group,
                "description": instance.description,
                "repository_url": instance.repository_url,
                "links": instance.links,
                "runbook_url": instance.runbook_url,
                "oncall_url": instance.oncall_url,
            }
        super().__init__(data, initial=initial)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]


class ClaimForm(forms.Form):
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(), empty_label=None, help_text="Services of the teams you may change."
    )

    def __init__(self, data: Any = None, *, services: QuerySet[Service]) -> None:
        super().__init__(data)
        self.fields["service"].queryset = services  # type: ignore[attr-defined]
