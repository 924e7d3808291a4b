"""Reads of workflow runs, for the apps whose subjects they belong to."""

from __future__ import annotations

import operator
from functools import reduce

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import CharField, Prefetch, Q, QuerySet
from django.db.models.functions import Cast

from access import policy
from access.policy import AnyUser
from workflows import subjects
from workflows.models import Run, Step


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


def visible_runs(user: AnyUser, *, subject_type: str | None = None, subject_id: int | None = None) -> QuerySet[Run]:
    """The runs whose subject ``user`` may see (the policy's ``view`` on the subject), newest first, with their
    steps; optionally only those of one kind of subject (a name of :mod:`workflows.subjects`) and one subject.

    One query for the runs (each kind of subject a scoped subquery) and one for their steps, however many runs.
    """
    visible: list[Q] = []
    for name in subjects.names():
        if subject_type is not None and name != subject_type:
            continue
        model = subjects.model_for(name)
        assert model is not None  # noqa: S101 (a registered name)
        seen = policy.restrict(model._default_manager.all(), user, policy.VIEW)
        if subject_id is not None:
            seen = seen.filter(pk=subject_id)
        as_text = seen.annotate(subject_key=Cast("pk", output_field=CharField())).values("subject_key")
        visible.append(Q(subject_type=ContentType.objects.get_for_model(model), subject_id__in=as_text))
    if not visible:
        return Run.objects.none()
    return (
        Run.objects.filter(reduce(operator.or_, visible))
        .prefetch_related(Prefetch("steps", queryset=Step.objects.order_by("position")))
        .order_by("-created_at", "-pk")
    )
