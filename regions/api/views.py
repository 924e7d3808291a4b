"""Read API of the platform inventory; every list is scoped by the policy."""

from __future__ import annotations

from portal.api.viewsets import ScopedReadOnlyViewSet
from regions import filtersets, selectors
from regions.api import serializers
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region


class CloudAccountViewSet(ScopedReadOnlyViewSet):
    selector = selectors.cloud_account_list
    queryset = CloudAccount.objects.all()
    serializer_class = serializers.CloudAccountSerializer
    filterset_fields = ["provider", "auth_method"]


class RegionViewSet(ScopedReadOnlyViewSet):
    selector = selectors.region_list
    queryset = Region.objects.all()
    serializer_class = serializers.RegionSerializer
    filterset_class = filtersets.RegionFilterSet


class ClusterViewSet(ScopedReadOnlyViewSet):
    selector = selectors.cluster_list
    queryset = Cluster.objects.all()
    serializer_class = serializers.ClusterSerializer
    filterset_class = filtersets.ClusterFilterSet


class NodePoolViewSet(ScopedReadOnlyViewSet):
    selector = selectors.node_pool_list
    queryset = NodePool.objects.all()
    serializer_class = serializers.NodePoolSerializer
    filterset_class = filtersets.NodePoolFilterSet


class NamespaceViewSet(ScopedReadOnlyViewSet):
    selector = selectors.namespace_list
    queryset = Namespace.objects.all()
    serializer_class = serializers.NamespaceSerializer
    filterset_class = filtersets.NamespaceFilterSet


class CentreServerViewSet(ScopedReadOnlyViewSet):
    selector = selectors.centre_server_list
    queryset = CentreServer.objects.all()
    serializer_class = serializers.CentreServerSerializer
    filterset_class = filtersets.CentreServerFilterSet
