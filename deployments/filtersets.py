"""Filters of the matrix, the unmatched-workload list and the API lists; choices are what the user may see."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from access import policy
from access.models import Team, Tier
from deployments.choices import DeploymentSource, DeploymentStatus, Health, RunStatus, WorkloadKind
from deployments.models import Deployment, PipelineRun, Service, Workload
from deployments.selectors import MatrixFilters
from environments.choices import LIVE, NamespaceGroup
from environments.models import Environment
from regions.models import Cluster, Region


def _user(request: Any) -> Any:
    return getattr(request, "user", None) or AnonymousUser()


def _visible_teams(user: Any) -> QuerySet[Team]:
    return policy.restrict(Team.objects.all(), user, policy.VIEW).order_by("name")


def _visible_regions(user: Any) -> QuerySet[Region]:
    return policy.restrict(Region.objects.all(), user, policy.VIEW).order_by("residency_zone", "provider", "code")


def _workload_environments(user: Any) -> QuerySet[Environment]:
    """Live environments holding a workload ``user`` may see."""
    workloads = policy.restrict(Workload.objects.all(), user, policy.VIEW).filter(environment__isnull=False)
    live = Environment.objects.filter(status__in=LIVE, pk__in=workloads.values("environment_id"))
    return live.only("pk", "name").order_by("name")  # hundreds of options: only what an option shows


class MatrixFilterForm(forms.Form):
    """The matrix's filters: team, environment, region, health and a search of service names."""

    q = forms.CharField(required=False, label="Search", max_length=200)
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, to_field_name="slug", empty_label="Every team"
    )
    environment = forms.ModelChoiceField(queryset=Environment.objects.none(), required=False, empty_label="Every one")
    region = forms.ModelChoiceField(queryset=Region.objects.none(), required=False, empty_label="Every region")
    health = forms.ChoiceField(choices=[("", "Any health"), *Health.choices], required=False)

    def __init__(self, data: Any = None, *, user: Any) -> None:
        super().__init__(data)
        self.fields["team"].queryset = _visible_teams(user)  # type: ignore[attr-defined]
        self.fields["environment"].queryset = _workload_environments(user)  # type: ignore[attr-defined]
        self.fields["region"].queryset = _visible_regions(user)  # type: ignore[attr-defined]

    def filters(self) -> MatrixFilters:
        """The valid filters (an invalid one is ignored and shown as an error on the form)."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        team, environment, region = data.get("team"), data.get("environment"), data.get("region")
        return MatrixFilters(
            team=team.slug if team is not None else "",
            environment=environment.pk if environment is not None else None,
            region=region.pk if region is not None else None,
            health=data.get("health") or "",
            q=(data.get("q") or "").strip(),
        )


class _VisibleChoices(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _user(self.request)
        if "team" in self.filters:
            self.filters["team"].queryset = _visible_teams(user)
        if "region" in self.filters:
            self.filters["region"].queryset = _visible_regions(user)
        if "cluster" in self.filters:
            self.filters["cluster"].queryset = policy.restrict(Cluster.objects.all(), user, policy.VIEW).order_by(
                "name"
            )
        if "service" in self.filters:
            self.filters["service"].queryset = policy.restrict(Service.objects.all(), user, policy.VIEW).order_by(
                "slug"
            )


class ServiceFilterSet(_VisibleChoices):
    q = django_filters.CharFilter(method="search", label="Search")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), field_name="team", to_field_name="slug")
    namespace_group = django_filters.ChoiceFilter(choices=NamespaceGroup.choices)

    class Meta:
        model = Service
        fields = ["team", "namespace_group"]

    def search(self, queryset: QuerySet[Service], name: str, value: str) -> QuerySet[Service]:
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value) | Q(description__icontains=value))


class WorkloadFilterSet(_VisibleChoices):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    service = django_filters.ModelChoiceFilter(queryset=Service.objects.none(), to_field_name="slug")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), field_name="team", to_field_name="slug")
    cluster = django_filters.ModelChoiceFilter(queryset=Cluster.objects.none())
    region = django_filters.ModelChoiceFilter(queryset=Region.objects.none(), field_name="cluster__region")
    namespace = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=WorkloadKind.choices)
    health = django_filters.ChoiceFilter(choices=Health.choices)
    environment = django_filters.NumberFilter(field_name="environment_id")
    gone = django_filters.BooleanFilter(field_name="gone_at", lookup_expr="isnull", exclude=True, label="Gone")
    unmatched = django_filters.BooleanFilter(
        method="filter_unmatched",
        label="Unmatched",
        help_text="true: the workloads to claim, as the unmatched page lists them (present, of no service); "
        "false: those of a service.",
    )

    class Meta:
        model = Workload
        fields = ["service", "team", "cluster", "region", "namespace", "kind", "health", "environment"]

    def filter_unmatched(self, queryset: QuerySet[Workload], name: str, value: bool | None) -> QuerySet[Workload]:
        if value is None:
            return queryset
        if value:
            return queryset.filter(service__isnull=True, gone_at__isnull=True)
        return queryset.filter(service__isnull=False)


class UnmatchedWorkloadFilterSet(_VisibleChoices):
    """The unmatched-workload page's filters: cluster and namespace."""

    cluster = django_filters.ModelChoiceFilter(queryset=Cluster.objects.none())
    namespace = django_filters.CharFilter(label="Namespace")

    class Meta:
        model = Workload
        fields = ["cluster", "namespace"]


class DeploymentFilterSet(_VisibleChoices):
    service = django_filters.ModelChoiceFilter(queryset=Service.objects.none(), to_field_name="slug")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), field_name="team", to_field_name="slug")
    region = django_filters.ModelChoiceFilter(queryset=Region.objects.none(), field_name="cluster__region")
    environment = django_filters.NumberFilter(field_name="environment_id")
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)
    source = django_filters.ChoiceFilter(choices=DeploymentSource.choices)
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Deployment
        fields = ["service", "team", "region", "environment", "status", "source", "tier"]


class PipelineRunFilterSet(_VisibleChoices):
    service = django_filters.ModelChoiceFilter(queryset=Service.objects.none(), to_field_name="slug")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), field_name="team", to_field_name="slug")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    branch = django_filters.CharFilter()
    commit = django_filters.CharFilter(field_name="commit_sha", lookup_expr="startswith")

    class Meta:
        model = PipelineRun
        fields = ["service", "team", "status", "branch"]
