"""API of rollbacks (ask, list, read), deploy freeze windows (list, create, end: what the freezes page does) and
the DORA metrics.

As the pages: lists are scoped by the policy, the services decide, and their
refusals come back as structured 400s with the reason (portal/api/errors.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import policy
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments import freezes
from deployments.dora import dora
from deployments.models import Deployment, FreezeWindow, RollbackRequest, Service
from deployments.rollback import rollback_request
from environments.models import Environment
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
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


class FreezeEnvironmentField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """An environment by its id, among the live ones the caller may see (any other is "not found", as the
    page's choice offers only those)."""

    def get_queryset(self) -> Any:
        request = self.context.get("request")
        user = request.user if request is not None else None
        return policy.restrict(Environment.objects.live(), user, VIEW)


class FreezeWindowSerializer(serializers.ModelSerializer[FreezeWindow]):
    environment = FreezeEnvironmentField(help_text="The environment's id (from /api/environments/).")
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    team = serializers.SlugRelatedField(source="environment.team", slug_field="slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    in_force = serializers.SerializerMethodField(help_text="It has begun and not ended: rollbacks are refused now.")
    can_end = serializers.SerializerMethodField(help_text="Whether you may end it (or remove it before it begins).")

    class Meta:
        model = FreezeWindow
        fields = [
            "id",
            "environment",
            "environment_name",
            "team",
            "starts_at",
            "ends_at",
            "in_force",
            "reason",
            "created_by",
            "created_at",
            "can_end",
        ]
        read_only_fields = ["id", "created_by", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["ends_at"] <= attrs["starts_at"]:
            raise serializers.ValidationError({"ends_at": ["A freeze must end after it starts."]})
        return attrs

    def get_in_force(self, window: FreezeWindow) -> bool:
        now = timezone.now()
        return window.starts_at <= now < window.ends_at

    def get_can_end(self, window: FreezeWindow) -> bool:
        changeable = getattr(window, "changeable", None)
        if changeable is not None:  # the list annotates it in its one query
            return bool(changeable)
        request = self.context.get("request")
        return request is not None and policy.can(request.user, CHANGE, window)


class FreezeWindowViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[FreezeWindow]):
    """Freeze windows the caller may see (``?current=true``: in force or to come); POST freezes an environment."""

    queryset = FreezeWindow.objects.all()
    serializer_class = FreezeWindowSerializer
    permission_classes = [SignedIn]

    def get_queryset(self) -> Any:
        user = self.request.user
        changeable = policy.restrict(FreezeWindow.objects.filter(pk=OuterRef("pk")), user, CHANGE)
        windows = (
            policy.restrict(FreezeWindow.objects.all(), user, VIEW)
            .select_related("created_by", "environment__team")
            .annotate(changeable=Exists(changeable))
        )
        if self.request.query_params.get("current") in {"1", "true"}:
            windows = windows.filter(ends_at__gt=timezone.now())
        return windows.order_by("starts_at", "pk")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "current", bool, description="Only the windows in force or to come (as the freezes page lists)."
            )
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[IDEMPOTENCY_KEY], responses={201: FreezeWindowSerializer})
    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Freeze an environment (``deployments.change`` on its team); an Idempotency-Key makes a repeat answer
        the first window and freeze once."""
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = freezes.freeze_create(
            actor=_user(self.request), environment_id=data.pop("environment").pk, **data
        )

    @extend_schema(request=None, responses={200: FreezeWindowSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def end(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """End the freeze now (one not begun yet is removed); ending an ended one changes nothing."""
        visible = self.get_object()
        policy.require(request.user, CHANGE, visible)  # 403 for who may see it but not end it
        window = freezes.freeze_end(actor=_user(request), freeze_id=visible.pk)
        if window.pk is None:  # one not begun was removed: answer it as it was, by its id
            window.pk = visible.pk
        return Response(FreezeWindowSerializer(window, context=self.get_serializer_context()).data)


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class DoraQuery(serializers.Serializer[Any]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), required=False)
    days = serializers.IntegerField(min_value=1, max_value=730, default=30)


class DoraView(APIView):
    """The four DORA metrics of the production deployments the caller may see."""

    permission_classes = [SignedIn]

    @extend_schema(parameters=[DoraQuery], responses={200: dict})
    def get(self, request: Request) -> Response:
        query = DoraQuery(data=request.query_params)
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
