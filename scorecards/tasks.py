"""Scheduled and on-demand work of scorecards: thin callers of the services."""

from __future__ import annotations

from celery import shared_task

from scorecards import services


@shared_task(name="scorecards.evaluate")
def evaluate_scorecards(scorecard_id: int | None = None) -> int:
    """Evaluate every service against every scorecard (beat, every ``PORTAL_SCORECARDS_EVALUATE_SECONDS``), or
    against one scorecard after a rule of it changed or an admin asked; how many results were written."""
    evaluation = services.scorecards_evaluate(scorecard_ids=None if scorecard_id is None else [scorecard_id])
    return evaluation.results
