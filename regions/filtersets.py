"""Filters shared by the inventory pages and the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from access import policy
from access.models import Team
from regions.choices import Rating
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region


def visible(model: type[Model]) -> Callable[[HttpRequest | None], QuerySet[Any]]:
    """The choices of a filter on ``model``: only objects the user may see.

    Otherwise the filter is an oracle: an id outside the user's scope would be a
    valid choice (an empty list) while an unknown id is refused.
    """

    def queryset(request: HttpRequest | None) -> QuerySet[Any]:
        user = getattr(request, "user", None) or AnonymousUser()
        return policy.restrict(model._default_manager.all(), user, policy.VIEW)

    return queryset


class RegionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    account = django_filters.ModelChoiceFilter(queryset=visible(CloudAccount))
    health = django_filters.ChoiceFilter(choices=Rating.choices, method="by_health", label="Health")

    class Meta:
        model = Region
        fields = ["provider", "residency_zone", "status", "account", "health"]

    def search(self, queryset: QuerySet[Region], name: str, value: str) -> QuerySet[Region]:
        return queryset.filter(Q(code__icontains=value) | Q(display_name__icontains=value))

    def by_health(self, queryset: QuerySet[Region], name: str, value: str) -> QuerySet[Region]:
        if value == Rating.UNKNOWN:  # never checked counts as not checked
            return queryset.filter(Q(health__isnull=True) | Q(health__rating=value))
        return queryset.filter(health__rating=value)


class ClusterFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="region__provider")
    residency_zone = django_filters.CharFilter(field_name="region__residency_zone")
    region = django_filters.ModelChoiceFilter(queryset=visible(Region))

    class Meta:
        model = Cluster
        fields = ["region", "kind", "status", "provider", "residency_zone"]


class NodePoolFilterSet(django_filters.FilterSet):
    cluster = django_filters.ModelChoiceFilter(queryset=visible(Cluster))

    class Meta:
        model = NodePool
        fields = ["cluster", "workload_class", "capacity_type"]


class NamespaceFilterSet(django_filters.FilterSet):
    cluster = django_filters.ModelChoiceFilter(queryset=visible(Cluster))
    team = django_filters.ModelChoiceFilter(queryset=visible(Team))

    class Meta:
        model = Namespace
        fields = ["cluster", "team", "name"]


class CentreServerFilterSet(django_filters.FilterSet):
    region = django_filters.ModelChoiceFilter(queryset=visible(Region))

    class Meta:
        model = CentreServer
        fields = ["region", "status"]
