"""Workflow runs by API: a subject's runs (``?subject_type=…&subject_id=…``), newest first, and one run with its
steps, as the subject's page shows its progress.

A run is visible exactly when its subject is (the policy's ``view`` on the environment, region request, failover
or rollback it belongs to); any other run is a 404 like a missing one. The kinds of subject come from
:mod:`workflows.subjects`, which the apps that own them fill, so this module imports no domain app.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import SignedIn
from workflows import selectors, subjects
from workflows.api.serializers import RunSerializer
from workflows.models import Run

# Ids are PostgreSQL bigints at most; a larger number names nothing (and must not reach the database).
LARGEST_ID = 2**63 - 1


class RunQuery(serializers.Serializer[Any]):
    subject_type = serializers.CharField(required=False, max_length=100)
    subject_id = serializers.IntegerField(required=False, min_value=1, max_value=LARGEST_ID)

    def validate_subject_type(self, value: str) -> str:
        if value not in subjects.names():
            raise serializers.ValidationError(f"Choose one of: {', '.join(subjects.names())}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "subject_id" in attrs and "subject_type" not in attrs:
            raise serializers.ValidationError({"subject_type": ["Say what the subject is, as well as its id."]})
        return attrs


class WorkflowRunViewSet(viewsets.GenericViewSet[Run]):
    queryset = Run.objects.none()  # every read goes through workflows.selectors.visible_runs
    serializer_class = RunSerializer
    permission_classes = [SignedIn]
    filter_backends: list[Any] = []

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "subject_names": subjects.name_by_content_type_id()}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "subject_type",
                str,
                enum=subjects.names() or None,
                description="Only the runs of this kind of subject.",
            ),
            OpenApiParameter(
                "subject_id", int, description="Only the runs of this subject (with subject_type): its id."
            ),
        ]
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        """The runs of the subjects one may see, newest first."""
        query = RunQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = selectors.visible_runs(request.user, **query.validated_data)
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """A run and its steps in order."""
        if not str(pk).isdigit() or int(str(pk)) > LARGEST_ID:
            raise exceptions.NotFound("No such workflow run.")
        run = selectors.visible_runs(request.user).filter(pk=int(str(pk))).first()
        if run is None:
            raise exceptions.NotFound("No such workflow run.")
        return Response(self.get_serializer(run).data)
