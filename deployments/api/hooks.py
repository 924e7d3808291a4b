"""API of CI/CD webhook sources: what the hooks pages do (list, create, rotate the secret, deactivate, and set
the only services a source may write to), with the same policy and audit.

A source's secret is in the answer to its creation and to a rotation only, never again: an ``Idempotency-Key``
replay of either answers ``"secret": null`` (the secret is not kept to be shown twice; rotate again for a new
one). Whoever holds ``deployments.change`` on a team adds and changes its sources; a source one may see but not
change answers 403, one outside one's scope 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.api.fields import VisibleSlugRelatedField
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments.choices import CiProvider
from deployments.hooks import services as hooks
from deployments.models import Service, WebhookSource
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent, idempotent_withholding
from portal.api.permissions import SignedIn


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn let only people through)
    return user


class WebhookSourceSerializer(serializers.ModelSerializer[WebhookSource]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The default service, if any."
    )
    services: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        read_only=True,
        help_text="The only services its deliveries may attach to; empty: its team's services.",
    )
    url = serializers.SerializerMethodField(help_text="Where the CI system posts its events.")
    can_change = serializers.SerializerMethodField(help_text="Whether you may rotate, deactivate or set its services.")

    class Meta:
        model = WebhookSource
        fields = [
            "id",
            "name",
            "provider",
            "team",
            "service",
            "services",
            "active",
            "url",
            "can_change",
            "created_at",
            "last_delivery_at",
        ]
        read_only_fields = fields

    def get_url(self, source: WebhookSource) -> str:
        path = reverse("webhook", kwargs={"name": source.name})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_can_change(self, source: WebhookSource) -> bool:
        changeable = getattr(source, "changeable", None)
        if changeable is not None:  # the list annotates it in its one query
            return bool(changeable)
        request = self.context.get("request")
        return request is not None and policy.can(request.user, CHANGE, source)


class WebhookSourceSecretSerializer(WebhookSourceSerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="Shown in this answer only (null in an Idempotency-Key replay): store it in the CI system now.",
    )

    class Meta(WebhookSourceSerializer.Meta):
        fields = [*WebhookSourceSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSourceCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(
        max_length=100, help_text="Part of the URL the CI system posts to: letters, digits, '.', '_' and '-'."
    )
    provider = serializers.ChoiceField(
        choices=CiProvider.choices, error_messages={"invalid_choice": "Choose github, gitlab or azure_devops."}
    )
    team: serializers.SlugRelatedField[Team] = VisibleSlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), help_text="The team whose services it writes to (slug)."
    )
    service: serializers.SlugRelatedField[Service] = VisibleSlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        required=False,
        allow_null=True,
        help_text="A service of the team, used when an event's repository matches no service (slug).",
    )


class WebhookSourceServicesSerializer(serializers.Serializer[Any]):
    services = serializers.ListField(
        child=VisibleSlugRelatedField(slug_field="slug", queryset=Service.objects.all()),
        max_length=200,
        allow_empty=True,
        help_text="Slugs of the only services it may write to; an empty list: its team's services, as by default.",
    )


class WebhookSourceViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[WebhookSource]):
    """Webhook sources the caller may see; POST registers one (its secret in the answer only)."""

    queryset = WebhookSource.objects.all()
    serializer_class = WebhookSourceSerializer
    permission_classes = [SignedIn]

    def get_queryset(self) -> QuerySet[WebhookSource]:
        user = self.request.user
        changeable = policy.restrict(WebhookSource.objects.filter(pk=OuterRef("pk")), user, CHANGE)
        return (
            policy.restrict(WebhookSource.objects.all(), user, VIEW)
            .select_related("team", "service")
            .prefetch_related("services")
            .annotate(changeable=Exists(changeable))
            .order_by("name")
        )

    def _changeable(self, request: Request) -> WebhookSource:
        source = self.get_object()  # outside one's scope: 404, before the body is read
        policy.require(request.user, CHANGE, source)  # seen but not changeable: 403
        return source

    def _answer(self, source: WebhookSource, *, secret: str | None = None, code: int = status.HTTP_200_OK) -> Response:
        shown = self.get_queryset().get(pk=source.pk)
        context = self.get_serializer_context()
        if secret is None:
            return Response(WebhookSourceSerializer(shown, context=context).data, status=code)
        shown.secret = secret
        return Response(WebhookSourceSecretSerializer(shown, context=context).data, status=code)

    @extend_schema(
        request=WebhookSourceCreateSerializer,
        responses={201: WebhookSourceSecretSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent_withholding("secret")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Register a CI/CD system (``deployments.change`` on the team). Someone who may add a source to no team
        is refused (403) before the body is read."""
        user = _actor(request)
        teams = policy.restrict(Team.objects.all(), user, VIEW)
        if not any(policy.can(user, CHANGE, WebhookSource(team=team)) for team in teams):
            raise PermissionDenied("You may not add webhook sources.")
        asked = WebhookSourceCreateSerializer(data=request.data, context={"request": request})
        asked.is_valid(raise_exception=True)
        team = asked.validated_data["team"]
        if not policy.can(user, CHANGE, WebhookSource(team=team)):
            raise PermissionDenied(f"You may not add webhook sources to {team}.")
        created = hooks.webhook_source_create(actor=user, **asked.validated_data)
        return self._answer(created.source, secret=created.secret, code=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: WebhookSourceSecretSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent_withholding("secret")
    def rotate(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Give the source a new secret (in this answer only); the old one stops working at once."""
        source = self._changeable(request)
        rotated = hooks.webhook_source_rotate(actor=_actor(request), source_id=source.pk)
        return self._answer(rotated.source, secret=rotated.secret)

    @extend_schema(request=None, responses={200: WebhookSourceSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def deactivate(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Refuse the source's deliveries from now on (its runs are kept); deactivating twice changes nothing."""
        source = self._changeable(request)
        return self._answer(hooks.webhook_source_deactivate(actor=_actor(request), source_id=source.pk))

    @extend_schema(
        request=WebhookSourceServicesSerializer,
        responses={200: WebhookSourceSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def services(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Set the only services the source may write to (none: its team's). Adding a service takes
        ``deployments.change`` on that service's team; the default service must stay among them."""
        source = self._changeable(request)
        asked = WebhookSourceServicesSerializer(data=request.data, context={"request": request})
        asked.is_valid(raise_exception=True)
        updated = hooks.webhook_source_services_set(
            actor=_actor(request), source_id=source.pk, services=asked.validated_data["services"]
        )
        return self._answer(updated)
