"""API of environment templates (read) and environments (list, detail, request); scoped by the policy."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from environments import filtersets, selectors, services
from environments.api import serializers as environment_serializers
from environments.models import Environment, EnvironmentTemplate
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet


class EnvironmentTemplateViewSet(ScopedReadOnlyViewSet):
    selector = selectors.template_list
    queryset = EnvironmentTemplate.objects.all()
    serializer_class = environment_serializers.EnvironmentTemplateSerializer
    filterset_class = filtersets.TemplateFilterSet


class EnvironmentPermission(PolicyPermission):
    """Reading needs only a signed-in person: the list is scoped (empty for whoever may see no
    environment, as the page is) and an environment outside one's scope is a 404. Creating is
    ``environments.request`` (the service re-checks it for the team, region and tier)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "POST":
            return policy.can(request.user, services.REQUEST, Environment)
        return policy.can(request.user, policy.VIEW)


class EnvironmentViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet, viewsets.GenericViewSet[Environment]):
    """Environments the caller may see; POST requests one (allowed, held for approval, or refused with reasons)."""

    selector = selectors.environment_list
    queryset = Environment.objects.all()
    serializer_class = environment_serializers.EnvironmentSerializer
    filterset_class = filtersets.EnvironmentFilterSet
    permission_classes = [EnvironmentPermission]

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return environment_serializers.EnvironmentRequestSerializer
        return environment_serializers.EnvironmentSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key from the same caller gives back the first environment (200).",
            )
        ],
        responses={
            201: environment_serializers.EnvironmentSerializer,
            200: environment_serializers.EnvironmentSerializer,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        repeated = bool(key) and Environment.objects.filter(requested_by=user, idempotency_key=key).exists()
        environment = services.environment_request(actor=user, idempotency_key=key, **data.validated_data)
        body = environment_serializers.EnvironmentSerializer(environment).data
        return Response(body, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED)
