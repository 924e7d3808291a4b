"""API of the service catalogue (read and write), workloads, deployments and pipeline runs (read), and
the version matrix; every list is scoped by the policy like the pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from access.permissions import LOGS
from deployments import catalogue, filtersets, selectors
from deployments.api import serializers as deployment_serializers
from deployments.live import services as live
from deployments.models import Deployment, PipelineRun, Service, Workload
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.pagination import Pagination
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet
from providers.cluster import EVENT_LIMIT, LOG_LIMIT_BYTES, POD_LIMIT
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
    """Workloads synced from clusters (gone ones included, with ``gone_at``; ``?gone=false`` hides them;
    ``?unmatched=true`` lists the ones to claim, as the unmatched page)."""

    selector = selectors.workload_list
    queryset = Workload.objects.all()
    serializer_class = deployment_serializers.WorkloadSerializer
    filterset_class = filtersets.WorkloadFilterSet
    permission_classes = [ReadScoped]

    @extend_schema(
        request=deployment_serializers.ClaimSerializer,
        responses={200: deployment_serializers.WorkloadSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def claim(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Say which service an unmatched workload belongs to (``deployments.change`` on the service's team, as
        the claim page). The workload and the service's team are audited; the cluster sync keeps the claim."""
        workload = self.get_object()  # outside one's scope: 404 before the body is read
        if not policy.can(request.user, policy.CHANGE, Service):
            raise PermissionDenied("You may not change the service catalogue.")
        claim = deployment_serializers.ClaimSerializer(data=request.data, context={"request": request})
        claim.is_valid(raise_exception=True)
        claimed = catalogue.workload_claim(
            actor=_actor(request), workload_id=workload.pk, service_id=claim.validated_data["service"].pk
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=claimed.pk)).data)

    @extend_schema(responses={200: deployment_serializers.KubernetesViewSerializer}, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def kubernetes(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """What the workload's cluster says now, read on demand as its Kubernetes panel: its pods (the least
        healthy first) with their containers, and their recent events. What the cluster could not give is said in
        the ``*problem`` fields (200). Nothing is kept or cached."""
        workload = self.get_object()
        panel = live.panel_read(workload)
        pods = panel.pods
        body = {
            "workload": workload.pk,
            "selector": pods.selector if pods is not None else "",
            "pods": [
                {
                    "name": pod.name,
                    "status": pod.status,
                    "phase": pod.phase,
                    "node": pod.node,
                    "created_at": pod.created_at,
                    "ready_containers": pod.ready_containers,
                    "restarts": pod.restarts,
                    "healthy": pod.healthy,
                    "owner_kind": pod.owner_kind,
                    "owner_name": pod.owner_name,
                    "containers": [
                        {
                            "name": container.name,
                            "image": container.image,
                            "ready": container.ready,
                            "restarts": container.restarts,
                            "state": container.state,
                            "reason": container.reason,
                            "last_terminated": container.last_terminated,
                            "has_previous": container.has_previous,
                        }
                        for container in pod.containers
                    ],
                }
                for pod in (pods.pods if pods is not None else ())
            ],
            "pods_truncated": bool(pods and pods.truncated),
            "events": [
                {
                    "type": event.type,
                    "reason": event.reason,
                    "message": event.message,
                    "count": event.count,
                    "last_seen": event.last_seen,
                    "involved_kind": event.involved_kind,
                    "involved_name": event.involved_name,
                }
                for event in panel.events
            ],
            "events_read": panel.events_read,
            "problem": panel.problem,
            "pods_problem": panel.pods_problem,
            "events_problem": panel.events_problem,
            "can_read_logs": policy.can(request.user, LOGS, workload),
            "pod_limit": POD_LIMIT,
            "event_limit": EVENT_LIMIT,
        }
        response = Response(deployment_serializers.KubernetesViewSerializer(body).data)
        add_never_cache_headers(response)
        return response

    @extend_schema(
        parameters=[deployment_serializers.LogQuerySerializer],
        responses={200: deployment_serializers.LogsSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def logs(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The last lines of a pod's containers' logs (``deployments.logs`` on the workload, as the panel). The
        pod must be one the workload's selector picks now. Each read is audited (which pod and containers, never
        the text); nothing is kept or cached."""
        workload = self.get_object()
        policy.require(request.user, LOGS, workload)  # 403 for who may see the workload but not its logs
        query = deployment_serializers.LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        asked = query.validated_data
        pod, container = asked["pod"].strip(), asked["container"].strip()
        refusal = live.log_request_problem(
            pod=pod, container=container, previous=asked["previous"], tail_lines=asked["tail"]
        )
        if refusal:
            raise serializers.ValidationError({"container" if asked["previous"] else "pod": [refusal]})
        read = live.logs_read(
            workload,
            actor=_actor(request),
            pod=pod,
            container=container,
            previous=asked["previous"],
            tail_lines=asked["tail"],
        )
        body = {
            "workload": workload.pk,
            "pod": pod,
            "tail_lines": asked["tail"],
            "limit_bytes": LOG_LIMIT_BYTES,
            "containers": [
                {
                    "container": entry.container.name,
                    "text": entry.log.text if entry.log is not None else None,
                    "previous": asked["previous"],
                    "truncated": bool(entry.log and entry.log.truncated),
                    "problem": entry.problem,
                }
                for entry in read.entries
            ],
            "problem": read.problem,
        }
        response = Response(deployment_serializers.LogsSerializer(body).data)
        add_never_cache_headers(response)
        return response


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
