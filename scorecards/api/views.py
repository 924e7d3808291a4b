"""API of scorecards: the scorecards and their rules (everyone reads them), and the services' levels and results,
scoped by the policy as the pages are (whoever may see a service sees its scorecards)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request

from access import policy
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet
from scorecards import selectors
from scorecards.api.serializers import ScorecardSerializer, ServiceScoreSerializer
from scorecards.models import Scorecard, ServiceScore


class ReadScoped(PolicyPermission):
    """Reading needs a signed-in person; the selectors scope what is listed and an object outside it is a 404."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return True  # the selector already scoped the queryset the object came from


class ScorecardViewSet(ScopedReadOnlyViewSet):
    """Scorecards with their rules, each at its level."""

    selector = selectors.scorecard_list
    queryset = Scorecard.objects.all()
    serializer_class = ScorecardSerializer
    permission_classes = [ReadScoped]


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
