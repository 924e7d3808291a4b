"""API of the platform inventory (read) and of region requests (read, request, plan); every list is scoped
by the policy."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet
from regions import failover as failovers
from regions import filtersets, preflight, selectors, services
from regions.api import serializers
from regions.models import (
    CentreServer,
    CloudAccount,
    Cluster,
    FailoverRequest,
    Namespace,
    NodePool,
    Region,
    RegionRequest,
)
from regions.plan import region_plan
from regions.residency import residency_overview


class CheckAccessPermission(PolicyPermission):
    """``check-access`` needs a signed-in person here; the service asks for ``inventory.change`` on the object."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", "") == "check_access":
            return policy.can(request.user, policy.VIEW)
        return super().has_permission(request, view)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if getattr(view, "action", "") == "check_access":
            return True  # the service decides (403 to a reader, 404 out of scope)
        return super().has_object_permission(request, view, obj)


def _checked_by(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
    return user


class CloudAccountViewSet(ScopedReadOnlyViewSet):
    """Cloud accounts the caller may see; ``check-access/`` (POST) runs the permissions pre-flight now and
    answers its result: ``ok``, and each missing action with the grant that adds it."""

    selector = selectors.cloud_account_list
    queryset = CloudAccount.objects.all()
    serializer_class = serializers.CloudAccountSerializer
    permission_classes = [CheckAccessPermission]
    filterset_fields = ["provider", "auth_method"]

    @extend_schema(request=None, responses={200: serializers.AccessCheckSerializer})
    @action(detail=True, methods=["post"], url_path="check-access", filter_backends=[])
    def check_access(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        account = self.get_object()
        result = preflight.account_access_check(actor=_checked_by(request), account_id=account.pk)
        return Response(serializers.AccessCheckSerializer(result).data)


class RegionViewSet(ScopedReadOnlyViewSet):
    selector = selectors.region_list
    queryset = Region.objects.all()
    serializer_class = serializers.RegionSerializer
    filterset_class = filtersets.RegionFilterSet

    @extend_schema(responses={200: dict}, filters=False)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def residency(self, request: Request, format: str | None = None) -> Response:
        """Per residency zone: its regions, the teams bound to it and every placement that breaks its rule
        (as the residency page), among what the caller may see."""
        return Response(residency_overview(user=request.user).as_json())


class ClusterViewSet(ScopedReadOnlyViewSet):
    """Clusters the caller may see; ``check-access/`` (POST) runs the permissions pre-flight of the portal's
    cluster identity now (one SelfSubjectAccessReview per needed verb) and answers its result."""

    selector = selectors.cluster_list
    queryset = Cluster.objects.all()
    serializer_class = serializers.ClusterSerializer
    permission_classes = [CheckAccessPermission]
    filterset_class = filtersets.ClusterFilterSet

    @extend_schema(request=None, responses={200: serializers.AccessCheckSerializer})
    @action(detail=True, methods=["post"], url_path="check-access", filter_backends=[])
    def check_access(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        cluster = self.get_object()
        result = preflight.cluster_access_check(actor=_checked_by(request), cluster_id=cluster.pk)
        return Response(serializers.AccessCheckSerializer(result).data)


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


class RegionRequestPermission(PolicyPermission):
    """Reading needs a signed-in person (the list is scoped); asking for a region is ``inventory.add``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "POST" and getattr(view, "action", "") == "create":
            return policy.can(request.user, policy.ADD, RegionRequest)
        return policy.can(request.user, policy.VIEW)


class RegionRequestViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet, viewsets.GenericViewSet[RegionRequest]):
    """Region requests the caller may see; POST asks for one (checked, then waiting for approval);
    ``plan/`` gives the resources its build-out creates, in order, with their monthly costs."""

    selector = selectors.region_request_list
    queryset = RegionRequest.objects.all()
    serializer_class = serializers.RegionRequestSerializer
    permission_classes = [RegionRequestPermission]
    filterset_fields = ["provider", "code", "status", "purpose"]

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return serializers.RegionRequestCreateSerializer
        return serializers.RegionRequestSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key from the same caller gives back the first request (200).",
            )
        ],
        responses={201: serializers.RegionRequestSerializer, 200: serializers.RegionRequestSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        repeated = bool(key) and RegionRequest.objects.filter(requested_by=user, idempotency_key=key).exists()
        created = services.region_request_create(actor=user, idempotency_key=key, **data.validated_data)
        body = serializers.RegionRequestSerializer(created).data
        return Response(body, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def plan(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        """The plan: every resource the build-out creates, in order, with its settings and monthly cost."""
        region_request = self.get_object()
        return Response({"request": region_request.pk, **region_plan(region_request).as_json()})


class FailoverRequestPermission(PolicyPermission):
    """Reading needs a signed-in person (the list is scoped); the service checks ``inventory.add`` on the region."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "POST" and getattr(view, "action", "") == "create":
            return policy.can(request.user, policy.ADD, FailoverRequest)
        return policy.can(request.user, policy.VIEW)


class FailoverRequestViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet, viewsets.GenericViewSet[FailoverRequest]):
    """Failovers the caller may see; POST asks to fail a region over to its DR partner (then two admins approve).

    A refusal (no partner, no replica, one under way, no reason) is the service's ValidationError, turned into
    the structured 400 by the shared error handler.
    """

    selector = failovers.failover_list
    queryset = FailoverRequest.objects.all()
    serializer_class = serializers.FailoverRequestSerializer
    permission_classes = [FailoverRequestPermission]
    filterset_fields = ["status"]

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return serializers.FailoverRequestCreateSerializer
        return serializers.FailoverRequestSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key from the same caller gives back the first failover (200).",
            )
        ],
        request=serializers.FailoverRequestCreateSerializer,
        responses={201: serializers.FailoverRequestSerializer, 200: serializers.FailoverRequestSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        repeated = bool(key) and FailoverRequest.objects.filter(requested_by=user, idempotency_key=key).exists()
        created = failovers.failover_request_create(
            actor=user,
            region_id=data.validated_data["region"],
            reason=data.validated_data["reason"],
            idempotency_key=key,
        )
        body = serializers.FailoverRequestSerializer(created).data
        return Response(body, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED)
