"""Read API of the platform inventory; every list is scoped by the policy."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from portal.api.viewsets import ScopedReadOnlyViewSet
from regions import filtersets, selectors
from regions.api import serializers
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region


class CloudAccountViewSet(ScopedReadOnlyViewSet):
    queryset = CloudAccount.objects.all()
    serializer_class = serializers.CloudAccountSerializer
    filterset_fields = ["provider", "auth_method"]

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.cloud_account_list(user=self.request.user)


class RegionViewSet(ScopedReadOnlyViewSet):
    queryset = Region.objects.all()
    serializer_class = serializers.RegionSerializer
    filterset_class = filtersets.RegionFilterSet

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.region_list(user=self.request.user)


class ClusterViewSet(ScopedReadOnlyViewSet):
    queryset = Cluster.objects.all()
    serializer_class = serializers.ClusterSerializer
    filterset_class = filtersets.ClusterFilterSet

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.cluster_list(user=self.request.user)


class NodePoolViewSet(ScopedReadOnlyViewSet):
    queryset = NodePool.objects.all()
    serializer_class = serializers.NodePoolSerializer
    filterset_class = filtersets.NodePoolFilterSet

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.node_pool_list(user=self.request.user)


class NamespaceViewSet(ScopedReadOnlyViewSet):
    queryset = Namespace.objects.all()
    serializer_class = serializers.NamespaceSerializer
    filterset_class = filtersets.NamespaceFilterSet

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.namespace_list(user=self.request.user)


class CentreServerViewSet(ScopedReadOnlyViewSet):
    queryset = CentreServer.objects.all()
    serializer_class = serializers.CentreServerSerializer
    filterset_class = filtersets.CentreServerFilterSet

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.centre_server_list(user=self.request.user)
