"""The savings recommendations by API: the savings page's list (same filters, same scope) and its actions.

As the page (costs/savings/views.py), through the same services (costs/savings/services.py): whoever holds
``costs.view`` lists what their grants cover (a developer their team's, a manager everything); the auditor is
refused the list (403). A recommendation out of the caller's scope is a 404 (to the auditor, every one).
Dismissing and snoozing take ``costs.change`` on the recommendation (403 for whoever sees it but may not);
setting the lifetime it names takes ``environments.change`` on its environment. Every action is audited by its
service, is safe to repeat (a dismissed one stays dismissed, a snoozed one keeps its snooze, an acted-on one
answers as it stands) and takes an ``Idempotency-Key`` (portal/api/idempotency.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.api.fields import VisibleSlugRelatedField
from access.models import Team, User
from costs.choices import RecommendationKind
from costs.models import Recommendation
from costs.savings import services as savings
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import SignedIn

KINDS = [kind.value for kind in RecommendationKind if kind != RecommendationKind.TTL_REALISED]
LIST_PARAMETERS = frozenset({"q", "kind", "team", "page", "page_size", "format"})


class SavingsQuerySerializer(serializers.Serializer[Any]):
    """The savings page's filters."""

    q = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Words in the title or the namespace."
    )
    kind = serializers.ChoiceField(
        choices=KINDS,
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": f"Choose a kind of recommendation: {', '.join(KINDS)}."},
    )
    team = VisibleSlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, help_text="Only this team's (its slug)."
    )


class RecommendationSerializer(serializers.ModelSerializer[Recommendation]):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True, default="")
    cluster = serializers.CharField(source="cluster.name", read_only=True, default="")
    can_change = serializers.SerializerMethodField(help_text="Whether you may dismiss or snooze it.")
    can_set_ttl = serializers.SerializerMethodField(help_text="Whether you may set the lifetime it names.")

    class Meta:
        model = Recommendation
        fields = [
            "id", "kind", "kind_label", "title", "monthly_saving", "currency", "evidence", "team", "environment",
            "environment_name", "cluster", "namespace", "resource", "tier", "action", "action_hours", "status",
            "status_label", "snoozed_until", "computed_at", "can_change", "can_set_ttl",
        ]  # fmt: skip
        read_only_fields = fields

    def get_can_change(self, recommendation: Recommendation) -> bool:
        return policy.can(self.context["request"].user, policy.CHANGE, recommendation)

    def get_can_set_ttl(self, recommendation: Recommendation) -> bool:
        environment = recommendation.environment
        if recommendation.action != "set_ttl" or environment is None or recommendation.status == "acted":
            return False
        return policy.can(self.context["request"].user, policy.CHANGE, environment)


class SnoozeSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        default=savings.SNOOZE_DAYS,
        error_messages={
            "invalid": "Give the number of days as a whole number, 1 to 365.",
            "min_value": "Snooze for 1 to 365 days.",
            "max_value": "Snooze for 1 to 365 days.",
        },
        help_text=f"How long to hide it (default {savings.SNOOZE_DAYS}).",
    )


class SavingsPermission(SignedIn):
    """The list: who may read the savings page (``costs.view`` on some recommendation). One recommendation and its
    actions: anyone signed in, then the object is looked up in the caller's scope (404 outside it, as on the page)
    and each action checks its own permission on it (403)."""

    message = "You may not see savings recommendations."

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "detail", False):
            return super().has_permission(request, view)
        return policy.can(request.user, policy.VIEW, Recommendation)


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SavingsPermission lets only people through)
    return user


class SavingsViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Recommendation]):
    """Savings recommendations you may see, the largest monthly saving first."""

    queryset = Recommendation.objects.none()  # every read goes through costs.savings.services
    serializer_class = RecommendationSerializer
    permission_classes = [SavingsPermission]

    def get_queryset(self) -> QuerySet[Recommendation]:
        return savings.recommendation_list(user=_actor(self.request))

    @extend_schema(parameters=[SavingsQuerySerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
        if unknown:
            raise exceptions.ValidationError(
                {name: ["Not a filter of this list: give q, kind, team, page or page_size."] for name in unknown}
            )
        query = SavingsQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        given = query.validated_data
        rows = savings.recommendation_search(
            self.get_queryset(), text=given.get("q", ""), kind=given.get("kind", ""), team=given.get("team")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, pk: Any = None, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self._visible(request, pk)).data)

    @extend_schema(request=None, responses=RecommendationSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def dismiss(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Hide it for good (it stays dismissed when the savings are computed again)."""
        recommendation = self._visible(request, pk)
        policy.require(request.user, policy.CHANGE, recommendation)
        savings.recommendation_dismiss(actor=_actor(request), recommendation_id=recommendation.pk)
        return Response(self.get_serializer(self._visible(request, pk)).data)

    @extend_schema(request=SnoozeSerializer, responses=RecommendationSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def snooze(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Hide it for some days; it shows again after."""
        recommendation = self._visible(request, pk)
        policy.require(request.user, policy.CHANGE, recommendation)
        given = SnoozeSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        savings.recommendation_snooze(
            actor=_actor(request), recommendation_id=recommendation.pk, days=given.validated_data["days"]
        )
        return Response(self.get_serializer(self._visible(request, pk)).data)

    @extend_schema(request=None, responses=RecommendationSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], url_path="set-ttl", url_name="set-ttl")
    @idempotent
    def set_ttl(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Set the lifetime the recommendation names on its environment (audited as the environment's change)."""
        user = _actor(request)
        recommendation = self._visible(request, pk)
        savings.recommendation_ttl_environment(user=user, recommendation=recommendation)
        savings.recommendation_set_ttl(actor=user, recommendation_id=recommendation.pk)
        return Response(self.get_serializer(self._visible(request, pk)).data)

    def _visible(self, request: Request, pk: Any) -> Recommendation:
        if not str(pk).isdigit():
            raise exceptions.NotFound("No recommendation matches the given query.")
        return savings.recommendation_visible(user=_actor(request), recommendation_id=int(pk))
