"""Forms of the catalogue pages: they parse and check what the browser sent; the catalogue functions decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from access.models import Team
from deployments.models import Service
from environments.choices import NamespaceGroup


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
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    repository_url = forms.CharField(
        max_length=500, required=False, label="Repository URL", help_text="https:// or ssh://"
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
