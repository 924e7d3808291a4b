from __future__ import annotations

from typing import Any

from rest_framework import serializers

from deployments.models import Service
from scorecards.models import Scorecard, ScorecardRule, ServiceScore
from scorecards.selectors import Card


class RuleSerializer(serializers.ModelSerializer[ScorecardRule]):
    title = serializers.CharField(read_only=True, help_text="The rule in words, threshold included.")
    days = serializers.IntegerField(read_only=True, allow_null=True, help_text="For deployed_within only.")
    percent = serializers.DecimalField(
        max_digits=4, decimal_places=1, read_only=True, allow_null=True, help_text="For change_failure_rate only."
    )
    extended_support = serializers.BooleanField(
        read_only=True, help_text="For supported_kubernetes: whether extended support counts as supported."
    )

    class Meta:
        model = ScorecardRule
        fields = ["id", "title", "kind", "level", "days", "percent", "extended_support", "description"]


class ScorecardSerializer(serializers.ModelSerializer[Scorecard]):
    rules = RuleSerializer(many=True, read_only=True)

    class Meta:
        model = Scorecard
        fields = ["id", "name", "description", "rules", "created_at", "updated_at"]


class ServiceScoreSerializer(serializers.ModelSerializer[ServiceScore]):
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.CharField(source="service.team.slug", read_only=True)
    scorecard_name = serializers.CharField(source="scorecard.name", read_only=True)
    level = serializers.CharField(read_only=True, help_text='bronze, silver, gold, or "" when it reaches none.')
    level_label = serializers.CharField(read_only=True)

    class Meta:
        model = ServiceScore
        fields = [
            "id",
            "service",
            "team",
            "scorecard",
            "scorecard_name",
            "level",
            "level_label",
            "passed",
            "total",
            "evaluated_at",
        ]


class RuleResultSerializer(serializers.Serializer[Any]):
    rule = serializers.IntegerField()
    title = serializers.CharField()
    level = serializers.CharField()
    status = serializers.CharField(
        help_text='passed, failed, unknown (could not be checked), or "" when not evaluated yet.'
    )
    reason = serializers.CharField(help_text="What was found, in words.")
    evaluated_at = serializers.DateTimeField(allow_null=True)


class HistoryPointSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    level = serializers.CharField()
    passed = serializers.IntegerField()
    total = serializers.IntegerField()


class CardSerializer(serializers.Serializer[Any]):
    scorecard = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.CharField(help_text='bronze, silver, gold, or "" when it reaches none (or is not evaluated).')
    level_label = serializers.CharField()
    passed = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    evaluated_at = serializers.DateTimeField(allow_null=True)
    rules = RuleResultSerializer(many=True)
    history = HistoryPointSerializer(many=True)


def card_data(card: Card) -> dict[str, Any]:
    """A service's card as the API gives it."""
    score = card.score
    return {
        "scorecard": card.scorecard.pk,
        "name": card.scorecard.name,
        "level": card.level,
        "level_label": score.level_label if score is not None else "Not evaluated yet",
        "passed": score.passed if score is not None else None,
        "total": score.total if score is not None else None,
        "evaluated_at": score.evaluated_at if score is not None else None,
        "rules": [
            {
                "rule": line.rule.pk,
                "title": line.rule.title,
                "level": line.rule.level,
                "status": line.status,
                "reason": line.result.reason if line.result is not None else "",
                "evaluated_at": line.result.evaluated_at if line.result is not None else None,
            }
            for group in card.groups
            for line in group.lines
        ],
        "history": [
            {"day": point.day, "level": point.level, "passed": point.passed, "total": point.total}
            for point in card.history
        ],
    }
