"""Filters shared by the template and environment list pages and the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from access import policy
from access.models import Team, Tier
from environments.choices import LIVE, EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from regions.choices import Provider
from regions.models import Region


class TemplateFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    q = django_filters.CharFilter(method="search", label="Search")
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    provider = django_filters.ChoiceFilter(choices=Provider.choices, method="by_provider", label="Provider")
    active = django_filters.ChoiceFilter(
        choices=[("true", "Active"), ("false", "Inactive")], method="by_active", label="Status"
    )

    class Meta:
        model = EnvironmentTemplate
        fields = ["tier", "provider", "active"]

    def search(self, queryset: QuerySet[EnvironmentTemplate], name: str, value: str) -> QuerySet[EnvironmentTemplate]:
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value) | Q(description__icontains=value))

    def by_active(
        self, queryset: QuerySet[EnvironmentTemplate], name: str, value: str
    ) -> QuerySet[EnvironmentTemplate]:
        return queryset.filter(active=value == "true")

    def by_provider(
        self, queryset: QuerySet[EnvironmentTemplate], name: str, value: str
    ) -> QuerySet[EnvironmentTemplate]:
        return queryset.filter(allowed_providers__contains=[value])


class EnvironmentFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    """Filters of the environment list and API; ``team`` and ``region`` choices are what the user may see."""

    q = django_filters.CharFilter(method="search", label="Search")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), field_name="team", to_field_name="slug")
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    region = django_filters.ModelChoiceFilter(queryset=Region.objects.none(), field_name="cluster__region")
    status = django_filters.ChoiceFilter(choices=EnvironmentStatus.choices)
    expiring = django_filters.ChoiceFilter(
        choices=[("24h", "Within 24 hours"), ("7d", "Within 7 days")], method="by_expiry", label="Expiring"
    )
    mine = django_filters.ChoiceFilter(
        choices=[("1", "Asked for by me")], method="by_requester", label="Requested by", empty_label="Anyone"
    )

    class Meta:
        model = Environment
        fields = ["team", "tier", "region", "status", "expiring", "mine"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None) or AnonymousUser()
        self.filters["team"].queryset = policy.restrict(Team.objects.all(), user, policy.VIEW).order_by("name")
        self.filters["region"].queryset = policy.restrict(Region.objects.all(), user, policy.VIEW).order_by("code")

    def search(self, queryset: QuerySet[Environment], name: str, value: str) -> QuerySet[Environment]:
        return queryset.filter(
            Q(name__icontains=value) | Q(team__name__icontains=value) | Q(template__name__icontains=value)
        )

    def by_requester(self, queryset: QuerySet[Environment], name: str, value: str) -> QuerySet[Environment]:
        user = getattr(self.request, "user", None)
        return queryset.filter(requested_by=user) if user is not None and user.is_authenticated else queryset.none()

    def by_expiry(self, queryset: QuerySet[Environment], name: str, value: str) -> QuerySet[Environment]:
        within = timedelta(hours=24) if value == "24h" else timedelta(days=7)
        return queryset.filter(status__in=LIVE, expires_at__isnull=False, expires_at__lte=timezone.now() + within)
