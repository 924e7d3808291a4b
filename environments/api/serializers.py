from __future__ import annotations

from rest_framework import serializers

from environments.models import EnvironmentTemplate
from environments.services import TEMPLATE_FIELDS


class EnvironmentTemplateSerializer(serializers.ModelSerializer[EnvironmentTemplate]):
    class Meta:
        model = EnvironmentTemplate
        fields = ["id", *TEMPLATE_FIELDS, "allowed_regions", "created_at", "updated_at"]
