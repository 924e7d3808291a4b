"""API of environment templates (read) and environments (list, detail, request, and the actions of its page:
teardown, cancel, retry, extend); scoped by the policy, each refusal a structured error."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from access.permissions import CHANGE
from environments import filtersets, selectors, services
from environments.api import serializers as environment_serializers
from environments.models import Environment, EnvironmentTemplate
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
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
        if request.method == "POST" and view.action in ("create", "check"):
            return policy.can(request.user, services.REQUEST, Environment)
        return policy.can(request.user, policy.VIEW)  # an action's service checks the environment itself


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

    @extend_schema(
        request=environment_serializers.EnvironmentRequestSerializer,
        responses=environment_serializers.RequestCheckSerializer,
    )
    @action(detail=False, methods=["post"])
    def check(self, request: Request, **kwargs: Any) -> Response:
        """What a request with these values would meet (allowed, approval, refused, why) and cost, creating
        nothing: the request form's live check. Values the request would refuse are a 400 here too."""
        given = environment_serializers.EnvironmentRequestSerializer(data=request.data, context={"request": request})
        given.is_valid(raise_exception=True)
        check = services.environment_check(actor=_user(request), **given.validated_data)
        return Response(environment_serializers.RequestCheckSerializer(check).data)

    @extend_schema(request=None, responses=environment_serializers.EnvironmentSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def teardown(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Tear it down (asking again while it is torn down changes nothing)."""
        return self._acted(services.environment_teardown(actor=_user(request), environment_id=_changeable(request, pk)))

    @extend_schema(request=None, responses=environment_serializers.EnvironmentSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Cancel a request waiting for approval, or provisioning under way (what it made is undone)."""
        return self._acted(services.environment_cancel(actor=_user(request), environment_id=_changeable(request, pk)))

    @extend_schema(request=None, responses=environment_serializers.EnvironmentSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def retry(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Resume a failed environment's run at its failed step."""
        return self._acted(services.environment_retry(actor=_user(request), environment_id=_changeable(request, pk)))

    @extend_schema(
        request=environment_serializers.ExtendSerializer,
        responses=environment_serializers.EnvironmentSerializer,
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def extend(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Push the expiry later, within the template's maximum lifetime from now."""
        environment_id = _changeable(request, pk)  # an environment one may not see is a 404 whatever the body
        given = environment_serializers.ExtendSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        environment = services.environment_extend(
            actor=_user(request), environment_id=environment_id, hours=given.validated_data["hours"]
        )
        return self._acted(environment)

    def _acted(self, environment: Environment) -> Response:
        fresh = selectors.environment_get(user=_user(self.request), pk=environment.pk)
        return Response(environment_serializers.EnvironmentSerializer(fresh).data)


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
    return user


def _changeable(request: Request, pk: Any) -> int:
    """The id of the environment ``pk`` if the caller may change it: 404 when they may not see it, 403 when they
    may see it only (as the page's actions)."""
    if not str(pk).isdigit():
        raise Http404("No such environment.")
    environment = selectors.environment_get(user=_user(request), pk=int(pk))
    policy.require(_user(request), CHANGE, environment)
    return environment.pk
