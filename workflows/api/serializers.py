"""A workflow run and its steps as the API shows them: what ran, for which subject, and how each step went."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workflows.models import Run, Step


class StepSerializer(serializers.ModelSerializer[Step]):
    note = serializers.CharField(read_only=True, help_text="What the step is waiting for, in words.")
    error = serializers.CharField(read_only=True, help_text="Why the step failed, in words.")

    class Meta:
        model = Step
        fields = ["position", "name", "status", "attempts", "note", "error", "started_at", "finished_at"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer[Run]):
    """``subject_type`` is the subject's public name (``environment``, ``region-request``…), as the list's
    filter takes it; the context's ``subject_names`` maps content type ids to those names."""

    subject_type = serializers.SerializerMethodField(help_text="What the run is for: environment, region-request…")
    subject_id = serializers.IntegerField(read_only=True, help_text="The subject's id.")
    error = serializers.CharField(read_only=True, help_text="Why the run failed, in words.")
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "kind",
            "direction",
            "status",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "subject_type",
            "subject_id",
            "steps",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_subject_type(self, run: Run) -> str:
        names: dict[int, str] = self.context.get("subject_names", {})
        return names.get(run.subject_type_id or 0, "")
