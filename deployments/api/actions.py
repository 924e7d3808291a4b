"""API of rollbacks (ask, list, read, and what the form offers for a workload), deploy freeze windows (list,
create, end: what the freezes page does) and the DORA metrics.

As the pages: lists are scoped by the policy, the services decide, and their
refusals come back as structured 400s with the reason (portal/api/errors.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Exists, OuterRef, Subquery
from django.db.models.functions import Cast
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import policy
from access.api.fields import VisiblePrimaryKeyRelatedField, VisibleSlugRelatedField
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from access.permissions import ROLLBACK as ROLLBACK_PERMISSION
from approvals import selectors as approval_selectors
from approvals.models import ApprovalRequest, ApprovalStatus
from deployments.dora import dora
from deployments.models import Deployment, FreezeWindow, RollbackRequest, Service, Workload
from deployments.rollbacks import freezes
from deployments.rollbacks.services import ROLLBACK, rollback_options, rollback_request, version_of
from environments.models import Environment
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import SignedIn
from workflows.models import Run
from workflows.selectors import latest_run


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn let only people through)
    return user


class EnvironmentReferenceSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RollbackWorkloadSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    cluster = serializers.CharField()
    region = serializers.CharField()
    namespace = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    environment = EnvironmentReferenceSerializer(allow_null=True)


class RollbackSerializer(serializers.ModelSerializer[RollbackRequest]):
    """A rollback as its page shows it: the workload (with its cluster, region and environment), what it goes
    from and to, who asked and why, how it went, and the ids of its approval and of its run (follow the run at
    ``/api/workflow-runs/<run>/``)."""

    workload = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    deployment = serializers.IntegerField(source="deployment_id", read_only=True, allow_null=True)
    approval = serializers.SerializerMethodField(help_text="Its approval request's id (production), if any.")
    approval_status = serializers.SerializerMethodField(help_text="Its approval request's status, if any.")
    run = serializers.SerializerMethodField(help_text="Its workflow run's id, once it has started.")

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
            "approval",
            "approval_status",
            "run",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RollbackWorkloadSerializer)
    def get_workload(self, rollback: RollbackRequest) -> dict[str, Any]:
        workload = rollback.workload
        environment = workload.environment
        return {
            "id": workload.pk,
            "cluster": workload.cluster.name,
            "region": workload.cluster.region.code,
            "namespace": workload.namespace,
            "kind": workload.kind,
            "name": workload.name,
            "environment": {"id": environment.pk, "name": environment.name} if environment is not None else None,
        }

    def _approval(self, rollback: RollbackRequest) -> tuple[int | None, str | None]:
        if hasattr(rollback, "approval_id"):  # the list's queryset annotates both in its one query
            return rollback.approval_id, getattr(rollback, "approval_status", None)
        approval = approval_selectors.latest_for(rollback, ROLLBACK)
        return (approval.pk, approval.status) if approval is not None else (None, None)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_approval(self, rollback: RollbackRequest) -> int | None:
        return self._approval(rollback)[0]

    @extend_schema_field(serializers.ChoiceField(choices=ApprovalStatus.choices, allow_null=True))
    def get_approval_status(self, rollback: RollbackRequest) -> str | None:
        return self._approval(rollback)[1]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_run(self, rollback: RollbackRequest) -> int | None:
        if hasattr(rollback, "run_id"):
            annotated: int | None = rollback.run_id
            return annotated
        run = latest_run(rollback, ROLLBACK)
        return run.pk if run is not None else None


class RollbackOptionsQuery(serializers.Serializer[Any]):
    workload = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The workload's id (from /api/workloads/)."
    )


class RevisionSerializer(serializers.Serializer[Any]):
    revision = serializers.IntegerField()
    version = serializers.CharField()
    images = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField(allow_null=True)


class FreezeNoticeSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField()


class RollbackOptionsSerializer(serializers.Serializer[Any]):
    """What the rollback form shows before one asks: the revisions to go back to and what stands in the way."""

    workload = serializers.IntegerField()
    revisions = RevisionSerializer(many=True, help_text="Revisions the cluster keeps to go back to, newest first.")
    freeze = FreezeNoticeSerializer(allow_null=True, help_text="The freeze in force (a rollback is refused).")
    argocd_notice = serializers.CharField(help_text="What Argo CD will do afterwards; acknowledge it when asking.")
    needs_approval = serializers.BooleanField(help_text="Whether the rollback waits for an approval.")
    problem = serializers.CharField(
        help_text="Why the cluster could not say which revisions it keeps (then none is offered), as the form says."
    )


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
        key = Cast(OuterRef("pk"), output_field=CharField())
        approvals = ApprovalRequest.objects.filter(
            subject_type=ContentType.objects.get_for_model(RollbackRequest), subject_id=key, purpose=ROLLBACK
        ).order_by("-pk")
        runs = Run.objects.filter(
            subject_type=ContentType.objects.get_for_model(RollbackRequest), subject_id=key, kind=ROLLBACK
        ).order_by("-created_at", "-pk")
        return (
            policy.restrict(RollbackRequest.objects.all(), self.request.user, VIEW)
            .select_related("workload__cluster__region", "workload__environment", "requested_by")
            .annotate(
                approval_id=Subquery(approvals.values("pk")[:1]),
                approval_status=Subquery(approvals.values("status")[:1]),
                run_id=Subquery(runs.values("pk")[:1]),
            )
            .order_by("-created_at", "-pk")
        )

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
        body = RollbackSerializer(self.get_queryset().get(pk=rollback.pk)).data
        return Response(body, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED)

    @extend_schema(parameters=[RollbackOptionsQuery], responses={200: RollbackOptionsSerializer})
    @action(
        detail=False, methods=["get"], url_path="options", url_name="options", filter_backends=[], pagination_class=None
    )
    def form_options(self, request: Request, **kwargs: Any) -> Response:
        """What the rollback form offers for a workload (``deployments.rollback`` on it, as the form): the
        revisions its cluster keeps to go back to, the freeze in force, Argo CD's notice and whether an approval
        is needed; when the cluster cannot be asked, ``problem`` says why and no revision is offered."""
        query = RollbackOptionsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = _user(request)
        workload = (
            policy.restrict(Workload.objects.select_related("cluster__region", "environment"), user, VIEW)
            .filter(pk=query.validated_data["workload"])
            .first()
        )
        if workload is None:
            raise NotFound("No such workload.")
        policy.require(user, ROLLBACK_PERMISSION, workload)  # 403 for who may see it but not roll it back
        options = rollback_options(workload)
        freeze = options.freeze
        body = {
            "workload": workload.pk,
            "revisions": [
                {
                    "revision": revision.revision,
                    "version": version_of(revision.images),
                    "images": list(revision.images),
                    "created_at": revision.created_at,
                }
                for revision in options.revisions
            ],
            "freeze": (
                {"id": freeze.pk, "ends_at": freeze.ends_at, "reason": freeze.reason} if freeze is not None else None
            ),
            "argocd_notice": options.argocd_notice,
            "needs_approval": options.needs_approval,
            "problem": options.problem,
        }
        return Response(RollbackOptionsSerializer(body).data)


class FreezeWindowSerializer(serializers.ModelSerializer[FreezeWindow]):
    environment = VisiblePrimaryKeyRelatedField(
        queryset=Environment.objects.live(), help_text="The environment's id (from /api/environments/)."
    )
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        source="environment.team", slug_field="slug", read_only=True
    )
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
        the first window and freeze once. Someone who may freeze no environment at all is refused (403) before
        the body is read."""
        if not policy.can(_user(request), CHANGE, FreezeWindow):
            raise PermissionDenied("You may not freeze any environment.")
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
