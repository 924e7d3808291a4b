from __future__ import annotations

from typing import Any

from rest_framework import serializers

from access.api.fields import VisiblePrimaryKeyRelatedField, VisibleSlugRelatedField
from access.models import Team
from environments.choices import LIFETIME_TOO_LONG, MAX_LIFETIME_HOURS, Size
from environments.models import Environment, EnvironmentTemplate
from environments.services import TEMPLATE_FIELDS
from regions.models import Cluster


class EnvironmentTemplateSerializer(serializers.ModelSerializer[EnvironmentTemplate]):
    # Plain strings, not enums, in the schema: these fields reuse choice sets that other endpoints
    # already name (ProviderEnum, ResidencyZoneEnum, SizeEnum), and drf-spectacular warns (failing
    # `check --deploy`) when one choice set gets two names.
    allowed_providers = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Provider codes: aws, azure, on_prem."
    )
    allowed_zones = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Residency zones (EU, AU, US); empty: every zone."
    )
    postgresql_size = serializers.CharField(read_only=True, help_text="small, medium, large; empty: no database.")
    redis_size = serializers.CharField(read_only=True, help_text="small, medium, large; empty: no Redis.")

    class Meta:
        model = EnvironmentTemplate
        fields = ["id", *TEMPLATE_FIELDS, "allowed_regions", "created_at", "updated_at"]


class EnvironmentSerializer(serializers.ModelSerializer[Environment]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    template: serializers.SlugRelatedField[EnvironmentTemplate] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    region = serializers.CharField(source="cluster.region.code", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    # Plain strings (see above): tier and size reuse named choice sets.
    tier = serializers.CharField(read_only=True, help_text="development, test, staging, production.")
    size = serializers.CharField(read_only=True, help_text="S, M or L.")
    # Declared, not derived: a read-only field DRF derives drops ``allow_blank``, and the schema would then
    # promise an approver that an environment needing no approval does not have.
    approver = serializers.ChoiceField(
        choices=Environment._meta.get_field("approver").choices or [],
        allow_blank=True,
        read_only=True,
        help_text="Who must approve the request, as the policy decided; empty: no approval needed.",
    )

    class Meta:
        model = Environment
        fields = [
            "id",
            "name",
            "team",
            "template",
            "tier",
            "size",
            "cluster",
            "region",
            "status",
            "approver",
            "monthly_estimate",
            "currency",
            "expires_at",
            "requested_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EnvironmentRequestSerializer(serializers.Serializer[Any]):
    """A request; send an ``Idempotency-Key`` header so that a retried call creates nothing new."""

    name = serializers.CharField(max_length=40)
    team = VisibleSlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    template = VisibleSlugRelatedField(slug_field="slug", queryset=EnvironmentTemplate.objects.all())
    cluster = VisiblePrimaryKeyRelatedField(queryset=Cluster.objects.select_related("region"))
    size = serializers.CharField(default=Size.SMALL, help_text="S, M or L.")
    ttl_hours = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LIFETIME_HOURS,
        error_messages={"max_value": LIFETIME_TOO_LONG},
        required=False,
        allow_null=True,
        help_text="Empty: the template's default; none for production.",
    )

    def validate_size(self, value: str) -> str:
        if value not in Size.values:
            raise serializers.ValidationError(f"Choose one of {', '.join(Size.values)}.")
        return value


class ExtendSerializer(serializers.Serializer[Any]):
    """How many hours later an environment should expire (within its template's maximum, checked on extending)."""

    hours = serializers.IntegerField(min_value=1, max_value=24 * 366)


class EstimateLineSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    name = serializers.CharField(source="label")
    detail = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=4)
    unit = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=20, decimal_places=6)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)


class RequestCheckSerializer(serializers.Serializer[Any]):
    """What a request would meet: allowed, needs whose approval, or refused, why, and what it would cost."""

    outcome = serializers.ChoiceField(choices=["allowed", "needs_approval", "refused"], source="decision.outcome")
    reasons = serializers.ListField(child=serializers.CharField(), source="decision.reasons")
    warnings = serializers.ListField(child=serializers.CharField(), source="decision.warnings")
    approver = serializers.CharField(source="decision.approver", allow_null=True)
    monthly_estimate = serializers.DecimalField(max_digits=20, decimal_places=2, source="estimate.total")
    currency = serializers.CharField()
    lines = EstimateLineSerializer(many=True, source="estimate.lines")
    environments_left = serializers.IntegerField(allow_null=True)
    budget_left_after = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
