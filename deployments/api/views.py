"""API of the service catalogue (read and write), workloads, deployments and pipeline runs (read), and
the version matrix; every list is scoped by the policy like the pages."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from deployments import catalogue, filtersets, selectors
from deployments.api import serializers as deployment_serializers
from deployments.models import Deployment, PipelineRun, Service, Workload
from portal.api.pagination import Pagination
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet
from scorecards import selectors as scorecard_selectors
from scorecards.api.serializers import CardSerializer, card_data


class ReadScoped(PolicyPermission):
    """Reading needs only a signed-in person: lists are scoped (empty for whoever may see no
    service or workload, as the pages are) and an object outside one's scope is a 404."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return True  # the selector already scoped the queryset the object came from


class CataloguePermission(ReadScoped):
    """Writes need ``deployments.change`` on some team; the catalogue re-checks the service's team."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return super().has_permission(request, view)
        return policy.can(request.user, policy.CHANGE, Service)


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
    return user


class ServiceViewSet(ScopedReadOnlyViewSet, viewsets.ModelViewSet[Service]):
    """The service catalogue. Writes go through the catalogue functions (policy re-checked, audited);
    deleting a service keeps its workloads and deployments, without a service."""

    selector = selectors.service_list
    queryset = Service.objects.all()
    serializer_class = deployment_serializers.ServiceSerializer
    filterset_class = filtersets.ServiceFilterSet
    permission_classes = [CataloguePermission]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = catalogue.service_create(actor=_actor(request), **data.validated_data)
        return Response(self.get_serializer(service).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        service = self.get_object()
        policy.require(request.user, policy.CHANGE, service)  # seen but not changeable: 403
        data = self.get_serializer(service, data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        updated = catalogue.service_update(actor=_actor(request), service_id=service.pk, **data.validated_data)
        return Response(self.get_serializer(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        service = self.get_object()
        policy.require(request.user, policy.CHANGE, service)
        catalogue.service_delete(actor=_actor(request), service_id=service.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=CardSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def scorecards(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        """The service on each scorecard: its level, each rule's result and why, and its last 90 days."""
        service = self.get_object()
        cards = scorecard_selectors.service_cards(user=request.user, service=service)
        return Response(CardSerializer([card_data(card) for card in cards], many=True).data)


class WorkloadViewSet(ScopedReadOnlyViewSet):
    """Workloads synced from clusters (gone ones included, with ``gone_at``; ``?gone=false`` hides them)."""

    selector = selectors.workload_list
    queryset = Workload.objects.all()
    serializer_class = deployment_serializers.WorkloadSerializer
    filterset_class = filtersets.WorkloadFilterSet
    permission_classes = [ReadScoped]


MATRIX_PARAMETERS = [
    OpenApiParameter("team", str, description="A team's slug."),
    OpenApiParameter("environment", int, description="An environment's id."),
    OpenApiParameter("region", int, description="A region's id."),
    OpenApiParameter("health", str, enum=["healthy", "progressing", "degraded", "unknown"]),
    OpenApiParameter("q", str, description="Search service names and slugs."),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int, description="Services a page (at most 500)."),
]


class DeploymentViewSet(ScopedReadOnlyViewSet):
    """Deployments seen by any source, newest first; ``matrix`` is the version matrix."""

    selector = selectors.deployment_list
    queryset = Deployment.objects.all()
    serializer_class = deployment_serializers.DeploymentSerializer
    filterset_class = filtersets.DeploymentFilterSet
    permission_classes = [ReadScoped]

    @extend_schema(parameters=MATRIX_PARAMETERS, responses=deployment_serializers.MatrixSerializer, filters=False)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def matrix(self, request: Request, format: str | None = None) -> Response:  # format: the .json route
        """Services x environments (and clusters for workloads in no environment), a page of services."""
        form = filtersets.MatrixFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            raise serializers.ValidationError(
                {name: [str(error) for error in errors] for name, errors in form.errors.items()}
            )
        page_size = Pagination().get_page_size(request) or selectors.MATRIX_PAGE_SIZE
        matrix = selectors.version_matrix(
            user=request.user,
            filters=form.filters(),
            page_number=request.query_params.get("page"),
            page_size=min(page_size, Pagination.max_page_size),
        )
        body = {
            "count": matrix.page.paginator.count,
            "page": matrix.page.number,
            "pages": matrix.page.paginator.num_pages,
            "columns": matrix.columns,
            "hidden_columns": matrix.hidden_columns,
            "rows": matrix.rows,
        }
        return Response(deployment_serializers.MatrixSerializer(body).data)


class PipelineRunViewSet(ScopedReadOnlyViewSet):
    selector = selectors.pipeline_run_list
    queryset = PipelineRun.objects.all()
    serializer_class = deployment_serializers.PipelineRunSerializer
    filterset_class = filtersets.PipelineRunFilterSet
    permission_classes = [ReadScoped]
