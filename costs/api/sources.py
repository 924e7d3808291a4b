"""API of cost sources (list with their loads, add, change, disable, import now) and attribution rules.

As the pages: lists are scoped by the policy (people whose grants cover no
source get an empty list and 404 on one), permission is asked before the
body is validated (:class:`ChangesSources`), the services decide and audit,
and their refusals come back as structured errors (portal/api/errors.py).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.api.fields import VisiblePrimaryKeyRelatedField
from access.models import User
from costs.api.parameters import KnownQueryParameters
from costs.models import AttributionRule, CostLoad, CostSource
from costs.sources import selectors as source_selectors
from costs.sources import services as source_services
from costs.sources.forms import check_upload_size
from portal.api.errors import error_body
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
    # The account and cluster are looked up among those the caller may see.
    serializer_related_field = VisiblePrimaryKeyRelatedField
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


class CostUploadRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="A FOCUS 1.0 to 1.2 CSV file (UTF-8, date/times in UTC as 2026-11-01T00:00:00Z), plain or gzip."
    )

    def validate_file(self, upload: Any) -> Any:
        try:
            check_upload_size(upload.size)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return upload


class CostUploadPeriodSerializer(serializers.Serializer[Any]):
    billing_period_start = serializers.DateField()
    line_items = serializers.IntegerField()
    totals = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Per currency, the billed, effective and list sums as decimal strings.",
    )


class CostUploadSerializer(serializers.Serializer[Any]):
    upload = serializers.IntegerField(help_text="The upload's id.")
    lines = serializers.IntegerField(help_text="Data rows the file held.")
    line_items = serializers.IntegerField(help_text="Daily line items loaded (a row spanning days makes several).")
    periods = CostUploadPeriodSerializer(many=True, help_text="The billing periods loaded (each replaced whole).")
    uploaded_at = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "source" is a Field attribute, so the source's id is added here rather than declared above.
        fields = super().get_fields()
        fields["source"] = serializers.IntegerField(help_text="The upload source's id.")
        return fields


class CostSourceViewSet(
    KnownQueryParameters,
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

    @extend_schema(
        request={"multipart/form-data": CostUploadRequestSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key from the same caller answers the first upload (200) without loading "
                "again; the same key with another file is refused (422).",
            )
        ],
        responses={
            201: CostUploadSerializer,
            200: CostUploadSerializer,
            400: OpenApiResponse(
                description="The file is refused and nothing is loaded: ``error.message`` says how many rows are "
                "bad (N of M) and where the reading stopped; ``error.rows`` lists the first 200 problems, each "
                "with its ``line`` (the header is line 1), ``column`` and ``message``."
            ),
            422: OpenApiResponse(description="The Idempotency-Key was used before for another file or source."),
        },
    )
    @action(detail=True, methods=["post"], url_path="upload")
    def upload(self, request: Request, pk: str, **kwargs: Any) -> Response:
        """Load a FOCUS file into this upload source, as the upload page does: every row is checked first, any
        bad row and nothing is loaded; a good file replaces each billing period it holds."""
        source = self.get_object()
        body = CostUploadRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        try:
            result = source_services.upload_focus(
                actor=_user(request),
                data=upload,
                source_id=source.pk,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
                file_name=upload.name or "",
            )
        except source_services.IdempotencyKeyReused as error:
            message = " ".join(error.messages)
            return Response(
                error_body(422, "idempotency_key_reused", message, {"Idempotency-Key": [message]}),
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if not result.ok:
            answer = error_body(400, "invalid_file", result.summary, {"file": [result.summary]})
            answer["error"].update(
                rows_read=result.lines,
                bad_rows=result.bad_rows,
                rows=[
                    {"line": error.line, "column": error.column, "message": error.message} for error in result.errors
                ],
            )
            return Response(answer, status=status.HTTP_400_BAD_REQUEST)
        assert result.record is not None  # noqa: S101 (a load that went through is recorded)
        return Response(
            CostUploadSerializer(source_services.upload_answer(result.record)).data,
            status=status.HTTP_200_OK if result.repeated else status.HTTP_201_CREATED,
        )


class AttributionRuleSerializer(serializers.ModelSerializer[AttributionRule]):
    # The team, environment and service are looked up among those the caller may see.
    serializer_related_field = VisiblePrimaryKeyRelatedField

    class Meta:
        model = AttributionRule
        fields = ["id", "kind", "key", "value", "priority", "team", "environment", "service"]
        read_only_fields = ["id"]


class AttributionRuleViewSet(
    KnownQueryParameters,
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
