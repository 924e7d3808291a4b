"""Filters shared by the inventory pages and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from regions.models import CentreServer, Cluster, Namespace, NodePool, Region


class RegionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Region
        fields = ["provider", "residency_zone", "status", "account"]

    def search(self, queryset: QuerySet[Region], name: str, value: str) -> QuerySet[Region]:
        return queryset.filter(Q(code__icontains=value) | Q(display_name__icontains=value))


class ClusterFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="region__provider")
    residency_zone = django_filters.CharFilter(field_name="region__residency_zone")

    class Meta:
        model = Cluster
        fields = ["region", "kind", "status", "provider", "residency_zone"]


class NodePoolFilterSet(django_filters.FilterSet):
    class Meta:
        model = NodePool
        fields = ["cluster", "workload_class", "capacity_type"]


class NamespaceFilterSet(django_filters.FilterSet):
    class Meta:
        model = Namespace
        fields = ["cluster", "team", "name"]


class CentreServerFilterSet(django_filters.FilterSet):
    class Meta:
        model = CentreServer
        fields = ["region", "status"]
