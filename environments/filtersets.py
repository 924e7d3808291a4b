"""Filters shared by the template list page and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from access.models import Tier
from environments.models import EnvironmentTemplate
from regions.choices import Provider


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
