from __future__ import annotations

from rest_framework import serializers

from environments.models import EnvironmentTemplate
from environments.services import TEMPLATE_FIELDS


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
