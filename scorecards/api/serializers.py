from __future__ import annotations

from typing import Any

from rest_framework import serializers

from deployments.models import Service
from scorecards.choices import CheckKind, Level
from scorecards.models import Scorecard, ScorecardRule, ServiceScore
from scorecards.selectors import Card
from scorecards.services import DAYS_MESSAGE, PERCENT_MESSAGE


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


class ScorecardWriteSerializer(serializers.Serializer[Any]):
    """A scorecard's name and description, as its form takes them (the service checks them again)."""

    name = serializers.CharField(
        max_length=100,
        error_messages={
            "required": "Give the scorecard a name, e.g. Production readiness.",
            "blank": "Give the scorecard a name, e.g. Production readiness.",
            "max_length": "Keep the name to 100 characters.",
        },
    )
    description = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        error_messages={"max_length": "Keep the description to 1,000 characters."},
    )


KIND_MESSAGE = "Choose what the rule checks: " + ", ".join(CheckKind.values) + "."
LEVEL_MESSAGE = "Choose the level the rule belongs to: bronze, silver or gold."


class RuleWriteSerializer(serializers.Serializer[Any]):
    """A rule as its form takes it: what it checks, at which level, with the threshold its kind takes."""

    kind = serializers.ChoiceField(
        choices=CheckKind.choices, error_messages={"required": KIND_MESSAGE, "invalid_choice": KIND_MESSAGE}
    )
    level = serializers.ChoiceField(
        choices=Level.choices, error_messages={"required": LEVEL_MESSAGE, "invalid_choice": LEVEL_MESSAGE}
    )
    days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=365,
        help_text="deployed_within only: the last production deployment is at most this many days old.",
        error_messages={"invalid": DAYS_MESSAGE, "min_value": DAYS_MESSAGE, "max_value": DAYS_MESSAGE},
    )
    percent = serializers.DecimalField(
        required=False,
        allow_null=True,
        max_digits=4,
        decimal_places=1,
        help_text="change_failure_rate only: above 0 and at most 100.",
        error_messages={
            "invalid": PERCENT_MESSAGE,
            "max_digits": PERCENT_MESSAGE,
            "max_whole_digits": PERCENT_MESSAGE,
            "max_decimal_places": "Give the percentage with at most one decimal place, e.g. 12.5.",
            "max_string_length": PERCENT_MESSAGE,
        },
    )
    extended_support = serializers.BooleanField(
        required=False,
        default=True,
        help_text="supported_kubernetes only: whether a version in (paid) extended support counts as supported.",
    )
    description = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"max_length": "Keep the explanation to 500 characters."},
    )


class RuleCreateSerializer(RuleWriteSerializer):
    scorecard = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="The scorecard's id.",
        error_messages={"invalid": "Give the scorecard by its id (a number)."},
    )


class ScorecardRuleSerializer(RuleSerializer):
    scorecard = serializers.IntegerField(source="scorecard_id", read_only=True)
    scorecard_name = serializers.CharField(source="scorecard.name", read_only=True)

    class Meta(RuleSerializer.Meta):
        fields = ["id", "scorecard", "scorecard_name", *RuleSerializer.Meta.fields[1:]]


class EvaluationSerializer(serializers.Serializer[Any]):
    scorecard = serializers.IntegerField()
    status = serializers.CharField(help_text="queued: a worker evaluates every service against it shortly.")
    message = serializers.CharField()
