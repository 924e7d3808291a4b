"""API of cost sources (list with their loads, add, change, disable, import now) and attribution rules.

As the pages: lists are scoped by the policy (people whose grants cover no
source get an empty list and 404 on one), permission is asked before the
body is validated (:class:`ChangesSources`), the services decide and audit,
and their refusals come back as structured errors (portal/api/errors.py).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from costs import source_selectors, source_services
from costs.models import AttributionRule, CostLoad, CostSource
from portal.api.permissions import SignedIn


class ChangesSources(SignedIn):
    """Reading: anyone signed in (the lists are scoped). Writing takes ``costs.change`` over sources and rules,
    which belong to no team, asked before the body is read: who may not change them gets 403 (404 for one
    they may not see) for any body, never a validation message about what is stored."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "detail", False):
            # On one source or rule, the object decides: missing or unseen is a 404, seen is asked below.
            return super().has_permission(request, view)
        return policy.can(request.user, policy.CHANGE, view.queryset.model())

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return request.method in SAFE_METHODS or policy.can(request.user, policy.CHANGE, obj)


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn let only people through)
    return user


class CostLoadSerializer(serializers.ModelSerializer[CostLoad]):
    """One loaded billing period: totals per currency as decimal strings (never added across currencies)."""

    class Meta:
        model = CostLoad
        fields = [
            "billing_period_start",
            "final",
            "line_items",
            "superseded",
            "totals",
            "requests",
            "request_cost",
            "loaded_at",
            "loads",
        ]
        read_only_fields = fields


class CostSourceSerializer(serializers.ModelSerializer[CostSource]):
    loads = CostLoadSerializer(many=True, read_only=True)

    class Meta:
        model = CostSource
        fields = [
            "id",
            "name",
            "kind",
            "account",
            "cluster",
            "bucket",
            "prefix",
            "enabled",
            "last_import_at",
            "last_error",
            "loads",
        ]
        read_only_fields = ["id", "last_import_at", "last_error", "loads"]


class CostSourceViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[CostSource],
):
    """Cost sources with their loads; POST adds one, PATCH changes one (``enabled: false`` disables it)."""

    queryset = CostSource.objects.all()
    serializer_class = CostSourceSerializer
    permission_classes = [ChangesSources]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return source_selectors.source_list(user=self.request.user)

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = source_services.source_create(actor=_user(self.request), **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        assert serializer.instance is not None  # noqa: S101 (an update has its object)
        serializer.instance = source_services.source_update(
            actor=_user(self.request), source_id=serializer.instance.pk, **serializer.validated_data
        )

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "CostImportStarted",
                {
                    "run": serializers.CharField(),
                    "status": serializers.CharField(),
                    "periods": serializers.ListField(child=serializers.DateField()),
                },
            ),
            200: inline_serializer("CostImportNothingDue", {"detail": serializers.CharField()}),
        },
    )
    @action(detail=True, methods=["post"], url_path="import")
    def import_now(self, request: Request, pk: str, **kwargs: Any) -> Response:
        """Start an import of the source now (or answer the one under way)."""
        source = self.get_object()
        run = source_services.import_request(actor=_user(request), source_id=source.pk)
        if run is None:
            return Response({"detail": "Every period is final: nothing to import."})
        return Response(
            {"run": run.key, "status": run.status, "periods": run.params.get("periods", [])},
            status=status.HTTP_202_ACCEPTED,
        )


class AttributionRuleSerializer(serializers.ModelSerializer[AttributionRule]):
    class Meta:
        model = AttributionRule
        fields = ["id", "kind", "key", "value", "priority", "team", "environment", "service"]
        read_only_fields = ["id"]


class AttributionRuleViewSet(
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[AttributionRule],
):
    """Attribution rules; POST adds one, DELETE removes one (stored periods keep theirs until re-loaded)."""

    queryset = AttributionRule.objects.all()
    serializer_class = AttributionRuleSerializer
    permission_classes = [ChangesSources]

    def get_queryset(self) -> Any:
        return source_selectors.rule_list(user=self.request.user)

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        if hasattr(serializer, "validators"):
            serializer.validators = []  # the service's full_clean says it, with the model's message
        return serializer

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = source_services.rule_create(actor=_user(self.request), **serializer.validated_data)

    def perform_destroy(self, instance: AttributionRule) -> None:
        source_services.rule_delete(actor=_user(self.request), rule_id=instance.pk)
