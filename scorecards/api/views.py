"""API of scorecards: the scorecards and their rules (everyone reads them; platform admins create, change and delete
them, and ask for an evaluation now, as on the pages), and the services' levels and results, scoped by the policy
as the pages are (whoever may see a service sees its scorecards)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import policy
from access.models import User
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import PolicyPermission, action_for
from portal.api.viewsets import ScopedReadOnlyViewSet
from scorecards import selectors, services
from scorecards.api.serializers import (
    EvaluationSerializer,
    RuleCreateSerializer,
    RuleWriteSerializer,
    ScorecardRuleSerializer,
    ScorecardSerializer,
    ScorecardWriteSerializer,
    ServiceScoreSerializer,
)
from scorecards.models import Scorecard, ScorecardRule, ServiceScore


class ReadScoped(PolicyPermission):
    """Reading needs a signed-in person; the selectors scope what is listed and an object outside it is a 404."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return True  # the selector already scoped the queryset the object came from


# What the pages say to someone who may read scorecards but not change them.
REFUSALS = {
    policy.ADD: "Only platform admins may create scorecards and rules.",
    policy.CHANGE: "Only platform admins may change scorecards and rules.",
    policy.DELETE: "Only platform admins may delete scorecards and rules.",
}


class ScorecardWrites(ReadScoped):
    """Everyone signed in reads; a write takes the policy's add, change or delete on scorecards (the services
    check again, inside their transaction). Every scorecard is visible, so a refusal is a 403 with the reason."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or "pk" in view.kwargs:
            # A scorecard or rule is asked about first (a 404 when there is none), then the object's check.
            return super().has_permission(request, view)
        return self._allowed(request, view, view.queryset.model)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True  # the selector already scoped the queryset the object came from
        return self._allowed(request, view, obj)

    def _allowed(self, request: Request, view: Any, obj: Any) -> bool:
        wanted = policy.CHANGE if getattr(view, "action", "") == "evaluate" else action_for(request)
        if not policy.can(request.user, wanted, obj):
            self.message = REFUSALS.get(wanted, REFUSALS[policy.CHANGE])
            return False
        return True


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
    return user


def _write_data(serializer_class: type[serializers.Serializer[Any]], request: Request, *, partial: bool) -> Any:
    data = serializer_class(data=request.data, partial=partial, context={"request": request})
    data.is_valid(raise_exception=True)
    return data.validated_data


WRITE_METHODS = ["get", "post", "patch", "delete", "head", "options"]


class ScorecardViewSet(ScopedReadOnlyViewSet):
    """Scorecards with their rules, each at its level; platform admins create, rename and delete them (PATCH
    changes the name or description) and ask for an evaluation now."""

    selector = selectors.scorecard_list
    queryset = Scorecard.objects.all()
    serializer_class = ScorecardSerializer
    permission_classes = [ScorecardWrites]
    http_method_names = WRITE_METHODS

    def _shown(self, scorecard_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=scorecard_id)).data, status=code)

    @extend_schema(request=ScorecardWriteSerializer, responses={201: ScorecardSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A new scorecard, with no rule yet (add them at /api/scorecard-rules/)."""
        data = _write_data(ScorecardWriteSerializer, request, partial=False)
        scorecard = services.scorecard_create(actor=_actor(request), **data)
        return self._shown(scorecard.pk, status.HTTP_201_CREATED)

    @extend_schema(request=ScorecardWriteSerializer, responses={200: ScorecardSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scorecard = self.get_object()
        data = _write_data(ScorecardWriteSerializer, request, partial=True)
        services.scorecard_update(actor=_actor(request), scorecard_id=scorecard.pk, **data)
        return self._shown(scorecard.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the scorecard with its rules and every service's results and history on it."""
        scorecard = self.get_object()
        services.scorecard_delete(actor=_actor(request), scorecard_id=scorecard.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: EvaluationSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def evaluate(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Evaluate every service against the scorecard now ("Re-evaluate now"): a worker does it shortly, and the
        results appear at /api/scorecard-scores/ and each service's /scorecards/. Audited."""
        scorecard = self.get_object()
        services.evaluation_request(actor=_actor(request), scorecard_id=scorecard.pk)
        body = {
            "scorecard": scorecard.pk,
            "status": "queued",
            "message": "Every service is being evaluated again; the results appear within a minute.",
        }
        return Response(EvaluationSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("scorecard", int, description="A scorecard's id.")])
)
class ScorecardRuleViewSet(ScopedReadOnlyViewSet):
    """The rules of every scorecard (``?scorecard=<id>`` for one's); platform admins add, change and remove them.
    Each change has the scorecard evaluated again."""

    queryset = ScorecardRule.objects.all()
    serializer_class = ScorecardRuleSerializer
    permission_classes = [ScorecardWrites]
    http_method_names = WRITE_METHODS

    selector = selectors.rule_list

    def get_queryset(self) -> QuerySet[ScorecardRule]:
        rules = super().get_queryset()
        if self.action != "list":
            return rules
        filters = RuleFilters(self.request.query_params)
        if not filters.is_valid():
            raise serializers.ValidationError(
                {name: [str(error) for error in errors] for name, errors in filters.errors.items()}
            )
        if filters.cleaned_data["scorecard"]:
            rules = rules.filter(scorecard_id=filters.cleaned_data["scorecard"])
        return rules

    def _shown(self, rule_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(super().get_queryset().get(pk=rule_id)).data, status=code)

    @extend_schema(request=RuleCreateSerializer, responses={201: ScorecardRuleSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = dict(_write_data(RuleCreateSerializer, request, partial=False))
        scorecard = selectors.scorecard_list(user=request.user).filter(pk=data.pop("scorecard")).first()
        if scorecard is None:
            raise serializers.ValidationError({"scorecard": ["There is no scorecard with that number."]})
        rule = services.rule_create(actor=_actor(request), scorecard=scorecard, **data)
        return self._shown(rule.pk, status.HTTP_201_CREATED)

    @extend_schema(request=RuleWriteSerializer, responses={200: ScorecardRuleSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        data = _write_data(RuleWriteSerializer, request, partial=True)
        # Defaults are for a new rule: a change names only what it changes.
        changed = {name: value for name, value in data.items() if name in request.data}
        services.rule_update(actor=_actor(request), rule_id=rule.pk, **changed)
        return self._shown(rule.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        services.rule_delete(actor=_actor(request), rule_id=rule.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleFilters(forms.Form):
    scorecard = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, error_messages={"invalid": "Give a scorecard's id."}
    )


class ScoreFilters(forms.Form):
    scorecard = forms.IntegerField(required=False, min_value=1, error_messages={"invalid": "Give a scorecard's id."})
    level = forms.ChoiceField(
        required=False,
        choices=[("", "any"), *selectors.LEVEL_FILTERS],
        error_messages={"invalid_choice": "Give bronze, silver, gold or none."},
    )
    service = forms.SlugField(required=False, max_length=63, error_messages={"invalid": "Give a service's slug."})
    team = forms.SlugField(required=False, max_length=50, error_messages={"invalid": "Give a team's slug."})


SCORE_PARAMETERS = [
    OpenApiParameter("scorecard", int, description="A scorecard's id."),
    OpenApiParameter("level", str, enum=["bronze", "silver", "gold", "none"], description="none: reaches no level."),
    OpenApiParameter("service", str, description="A service's slug."),
    OpenApiParameter("team", str, description="The owner team's slug."),
]


@extend_schema_view(list=extend_schema(parameters=SCORE_PARAMETERS))
class ServiceScoreViewSet(ScopedReadOnlyViewSet):
    """Each service's level on each scorecard at the last evaluation (services one may see only).

    A service's rule-by-rule results and history are at ``/api/services/{id}/scorecards/``.
    """

    selector = selectors.score_list
    queryset = ServiceScore.objects.all()
    serializer_class = ServiceScoreSerializer
    permission_classes = [ReadScoped]

    def get_queryset(self) -> QuerySet[ServiceScore]:
        scores = super().get_queryset()
        if self.action != "list":
            return scores
        filters = ScoreFilters(self.request.query_params)
        if not filters.is_valid():
            raise serializers.ValidationError(
                {name: [str(error) for error in errors] for name, errors in filters.errors.items()}
            )
        data = filters.cleaned_data
        if data["scorecard"]:
            scores = scores.filter(scorecard_id=data["scorecard"])
        if data["level"] == selectors.NO_LEVEL:
            scores = scores.filter(level="")
        elif data["level"]:
            scores = scores.filter(level=data["level"])
        if data["service"]:
            scores = scores.filter(service__slug=data["service"])
        if data["team"]:
            scores = scores.filter(service__team__slug=data["team"])
        return scores
