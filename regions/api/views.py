"""API of the platform inventory (read), of region requests (read, request, plan, and the actions of their page:
cancel, retry, roll back) and of failovers (read, request, cancel, retry); every list is scoped by the policy,
an object one cannot see is a 404 and one one may see but not change a 403."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from portal.api.errors import error_body
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import PolicyPermission, SignedIn
from portal.api.viewsets import ScopedReadOnlyViewSet
from regions import catalogue, filtersets, selectors, services, versions
from regions.api import serializers
from regions.failover import services as failovers
from regions.models import (
    CentreServer,
    CloudAccount,
    Cluster,
    FailoverRequest,
    Namespace,
    NodePool,
    Region,
    RegionRequest,
    ZoneOverride,
)
from regions.plan import region_plan
from regions.preflight import checks as preflight
from regions.residency.report import residency_overview


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

    @extend_schema(
        request=serializers.ZoneChangeSerializer,
        responses={200: serializers.ZoneEntrySerializer(many=True)},
        filters=False,
    )
    @action(
        detail=False,
        methods=["get", "post"],
        filter_backends=[],
        pagination_class=None,
        permission_classes=[SignedIn],
    )
    def zones(self, request: Request, format: str | None = None) -> Response:
        """GET: every known cloud region with its catalogue zone, any admin's override, and the zone it counts
        as. POST (``inventory.residency``): move one, with a reason; 409 lists the placements it would make
        breach residency until it is sent again with ``confirmed``."""
        if request.method == "POST":
            user = request.user
            if not isinstance(user, User) or not policy.can(user, policy.RESIDENCY, ZoneOverride):
                raise PermissionDenied("Only platform admins may move a region to another residency zone.")
            change = serializers.ZoneChangeSerializer(data=request.data)
            change.is_valid(raise_exception=True)
            try:
                made = services.region_zone_set(actor=user, **change.validated_data)
            except services.ZoneChangeNeedsConfirmation as needed:
                body = error_body(
                    409,
                    "would_breach",
                    f"{len(needed.breaches)} placements already made would breach residency; send it again with "
                    "confirmed: true to make the change anyway.",
                )
                body["error"]["breaches"] = [breach.as_json() for breach in needed.breaches]
                return Response(body, status=409)
            return Response({"breaches": [breach.as_json() for breach in made], "regions": self._zone_rows()})
        return Response(self._zone_rows())

    @staticmethod
    def _zone_rows() -> list[dict[str, Any]]:
        overrides = {(row.provider, row.code): row for row in ZoneOverride.objects.select_related("changed_by")}
        rows = []
        for entry in catalogue.zone_table():
            override = overrides.get((entry.provider, entry.code))
            rows.append(
                {
                    "provider": entry.provider,
                    "code": entry.code,
                    "name": entry.name,
                    "default_zone": entry.default,
                    "zone": entry.zone,
                    "overridden": override is not None,
                    "reason": override.reason if override else "",
                    "changed_by": override.changed_by.get_username() if override else "",
                    "changed_at": override.changed_at if override else None,
                }
            )
        return serializers.ZoneEntrySerializer(rows, many=True).data  # type: ignore[return-value]


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

    @extend_schema(
        parameters=[
            OpenApiParameter("account", int, required=True, description="The cloud account (its id)."),
            OpenApiParameter("code", str, required=True, description="The cloud region, e.g. eu-south-1."),
        ],
        responses={200: serializers.KubernetesVersionsSerializer},
    )
    @action(detail=False, methods=["get"], url_path="kubernetes-versions", filter_backends=[], pagination_class=None)
    def kubernetes_versions(self, request: Request, format: str | None = None) -> Response:
        """The Kubernetes versions the cloud creates clusters with in a region (cached for an hour), and the
        one an empty version becomes; 503 when the cloud cannot be asked."""
        if not policy.can(request.user, policy.ADD, RegionRequest):
            raise PermissionDenied("Only those who may request a region may ask the cloud for its versions.")
        account_id = str(request.query_params.get("account", "")).strip()
        code = str(request.query_params.get("code", "")).strip()
        fields: dict[str, list[str]] = {}
        account = (
            selectors.cloud_account_list(user=request.user).filter(pk=int(account_id)).first()
            if account_id.isdigit()
            else None
        )
        if account is None:
            fields["account"] = ["Name a cloud account you can see, by its id."]
        elif code not in catalogue.regions_in_zones(account.provider):
            fields["code"] = [catalogue.unknown_region_message(account.provider, account.get_provider_display(), code)]
        if fields or account is None:
            raise ValidationError(fields)
        try:
            offered = versions.offered_versions(account, code)
        except versions.VersionsUnavailable as error:
            return Response(error_body(503, "cloud_unavailable", error.message), status=503)
        body = {
            "account": account.pk,
            "code": code,
            "default": versions.default_version(offered),
            "versions": [asdict(info) for info in offered],
        }
        return Response(serializers.KubernetesVersionsSerializer(body).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def plan(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        """The plan: every resource the build-out creates, in order, with its settings and monthly cost."""
        region_request = self.get_object()
        return Response({"request": region_request.pk, **region_plan(region_request).as_json()})

    @extend_schema(request=None, responses=serializers.RegionRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def cancel(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Cancel a request waiting for approval (its approval is withdrawn) or a build under way (what it made
        is rolled back)."""
        return self._acted(request, services.region_request_cancel, pk)

    @extend_schema(request=None, responses=serializers.RegionRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def retry(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Resume a failed build (or a failed rollback) at its failed step."""
        return self._acted(request, services.region_build_retry, pk)

    @extend_schema(request=None, responses=serializers.RegionRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def rollback(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Roll a failed build back: delete what it created, newest first."""
        return self._acted(request, services.region_build_rollback, pk)

    def _acted(self, request: Request, service: Any, pk: Any) -> Response:
        """Act on the request ``pk`` as its page does: 404 when the caller may not see it, 403 when they may see
        it only; the service's refusal is the structured 400 of the shared error handler."""
        user = _checked_by(request)
        if not str(pk).isdigit():
            raise Http404("No such region request.")
        region_request = selectors.region_request_get(user=user, pk=int(pk))
        policy.require(user, policy.CHANGE, region_request)
        service(actor=user, request_id=region_request.pk)
        fresh = selectors.region_request_get(user=user, pk=region_request.pk)
        return Response(serializers.RegionRequestSerializer(fresh).data)


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

    @extend_schema(request=None, responses=serializers.FailoverRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def cancel(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Cancel a failover waiting for approval (its approval is withdrawn); one under way cannot be stopped."""
        return self._acted(request, failovers.failover_cancel, pk)

    @extend_schema(request=None, responses=serializers.FailoverRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def retry(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Resume a failed failover at its failed step. A promotion cannot be undone, so there is no rollback."""
        return self._acted(request, failovers.failover_retry, pk)

    def _acted(self, request: Request, service: Any, pk: Any) -> Response:
        """Act on the failover ``pk`` as its page does: 404 when the caller may not see it, 403 when they may see
        it only; the service's refusal is the structured 400 of the shared error handler."""
        user = _checked_by(request)
        if not str(pk).isdigit():
            raise Http404("No such failover.")
        failover = failovers.failover_get(user=user, pk=int(pk))
        policy.require(user, policy.CHANGE, failover)
        service(actor=user, failover_id=failover.pk)
        return Response(serializers.FailoverRequestSerializer(failovers.failover_get(user=user, pk=failover.pk)).data)
