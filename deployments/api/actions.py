"""API of rollbacks (ask, list, read), deploy freeze windows (list, create, end) and the DORA metrics.

As the pages: lists are scoped by the policy, the services decide, and their
refusals come back as structured 400s with the reason (portal/api/errors.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import policy
from access.api.fields import VisiblePrimaryKeyRelatedField, VisibleSlugRelatedField
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments import freezes
from deployments.dora import dora
from deployments.models import Deployment, FreezeWindow, RollbackRequest, Service
from deployments.rollback import rollback_request
from environments.models import Environment
from portal.api.permissions import SignedIn


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn let only people through)
    return user


class RollbackSerializer(serializers.ModelSerializer[RollbackRequest]):
    workload = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    deployment = serializers.IntegerField(source="deployment_id", read_only=True, allow_null=True)

    class Meta:
        model = RollbackRequest
        fields = [
            "id",
            "workload",
            "to_revision",
            "to_images",
            "to_version",
            "from_version",
            "reason",
            "status",
            "error",
            "requested_by",
            "deployment",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_workload(self, rollback: RollbackRequest) -> dict[str, Any]:
        workload = rollback.workload
        return {
            "id": workload.pk,
            "cluster": workload.cluster.name,
            "namespace": workload.namespace,
            "kind": workload.kind,
            "name": workload.name,
        }


class RollbackAskSerializer(serializers.Serializer[Any]):
    workload = serializers.IntegerField(help_text="The workload's id (from /api/workloads/).")
    to_revision = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=500)
    argocd_acknowledged = serializers.BooleanField(
        default=False, help_text="Required for a workload Argo CD manages: you read what Argo CD will do."
    )


class RollbackViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[RollbackRequest]):
    """Rollbacks the caller may see; POST asks for one (started at once, or held for approval in production)."""

    queryset = RollbackRequest.objects.all()
    permission_classes = [SignedIn]

    def get_queryset(self) -> Any:
        return policy.restrict(
            RollbackRequest.objects.select_related("workload__cluster", "requested_by"), self.request.user, VIEW
        ).order_by("-created_at", "-pk")

    def get_serializer_class(self) -> Any:
        return RollbackAskSerializer if self.action == "create" else RollbackSerializer

    @extend_schema(
        request=RollbackAskSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key from the same caller gives back the first rollback (200).",
            )
        ],
        responses={201: RollbackSerializer, 200: RollbackSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = _user(request)
        ask = RollbackAskSerializer(data=request.data)
        ask.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        repeated = bool(key) and RollbackRequest.objects.filter(requested_by=user, idempotency_key=key).exists()
        data = dict(ask.validated_data)
        rollback = rollback_request(actor=user, workload_id=data.pop("workload"), idempotency_key=key, **data)
        body = RollbackSerializer(rollback).data
        return Response(body, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED)


class FreezeWindowSerializer(serializers.ModelSerializer[FreezeWindow]):
    environment = VisiblePrimaryKeyRelatedField(queryset=Environment.objects.all())
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = FreezeWindow
        fields = ["id", "environment", "starts_at", "ends_at", "reason", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class FreezeWindowViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[FreezeWindow]):
    """Freeze windows the caller may see (``?current=true``: in force or to come); POST freezes an environment."""

    queryset = FreezeWindow.objects.all()
    serializer_class = FreezeWindowSerializer
    permission_classes = [SignedIn]

    def get_queryset(self) -> Any:
        windows = policy.restrict(FreezeWindow.objects.select_related("created_by"), self.request.user, VIEW)
        if self.request.query_params.get("current") in {"1", "true"}:
            windows = windows.filter(ends_at__gt=timezone.now())
        return windows.order_by("starts_at", "pk")

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = freezes.freeze_create(
            actor=_user(self.request), environment_id=data.pop("environment").pk, **data
        )

    @extend_schema(request=None, responses={200: FreezeWindowSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str, **kwargs: Any) -> Response:
        """End the freeze now (one not begun yet is removed)."""
        visible = self.get_object()
        policy.require(request.user, CHANGE, visible)  # 403 for who may see it but not end it
        window = freezes.freeze_end(actor=_user(request), freeze_id=visible.pk)
        return Response(FreezeWindowSerializer(window).data)


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class DoraQuery(serializers.Serializer[Any]):
    team = VisibleSlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    service = VisibleSlugRelatedField(slug_field="slug", queryset=Service.objects.all(), required=False)
    days = serializers.IntegerField(min_value=1, max_value=730, default=30)


class DoraView(APIView):
    """The four DORA metrics of the production deployments the caller may see."""

    permission_classes = [SignedIn]

    @extend_schema(parameters=[DoraQuery], responses={200: dict})
    def get(self, request: Request) -> Response:
        query = DoraQuery(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        visible = policy.restrict(Deployment.objects.all(), request.user, VIEW)
        if query.validated_data.get("team"):
            visible = visible.filter(team=query.validated_data["team"])
        if query.validated_data.get("service"):
            visible = visible.filter(service=query.validated_data["service"])
        end = timezone.localdate() + timedelta(days=1)
        metrics = dora(visible, start=end - timedelta(days=query.validated_data["days"]), end=end)
        return Response(
            {
                "start": metrics.start,
                "end": metrics.end,
                "deployments": metrics.deployments,
                "deployments_per_day": round(metrics.deployments_per_day, 4),
                "lead_time_seconds": _seconds(metrics.lead_time),
                "change_failure_rate": metrics.change_failure_rate,
                "failures": metrics.failures,
                "time_to_restore_seconds": _seconds(metrics.time_to_restore),
                "restored": metrics.restored,
                "daily": [
                    {"day": point.day, "deployments": point.deployments, "failures": point.failures}
                    for point in metrics.daily
                ],
            }
        )
