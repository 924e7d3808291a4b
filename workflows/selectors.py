"""Reads of workflow runs, for the apps whose subjects they belong to."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from workflows.models import Run


def runs_of(subject: models.Model, kind: str | None = None) -> QuerySet[Run]:
    """The runs started for ``subject`` (optionally of one ``kind``), newest first."""
    runs = Run.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk))
    return runs.filter(kind=kind) if kind else runs


def latest_run(subject: models.Model, kind: str | None = None) -> Run | None:
    """The newest run for ``subject``, or None."""
    return runs_of(subject, kind).first()


def run_context(run: Run) -> dict[str, object]:
    """What ``workflows/_run.html`` needs: the run and its steps in order, in two queries."""
    return {"run": run, "steps": list(run.steps.order_by("position"))}
