"""The Celery side of the workflow engine: one task advances a run, one sweeps for runs to resume."""

from __future__ import annotations

from celery import shared_task

from workflows import engine


@shared_task(name="workflows.advance", acks_late=True, reject_on_worker_lost=True)
def advance_run(run_id: int) -> None:
    """Perform the run's next steps (a no-op when another worker holds it or it has nothing to do now)."""
    engine.advance(run_id)


@shared_task(name="workflows.sweep")
def sweep_runs() -> int:
    """Re-enqueue runs whose wait is over, whose worker died, or whose message was lost."""
    return engine.sweep()
