"""Scheduled work of the savings page: a thin caller of :func:`costs.savings.services.refresh_recommendations`."""

from __future__ import annotations

from celery import shared_task

from costs.savings import services as savings


@shared_task(name="costs.compute_savings")
def compute_savings() -> dict[str, object]:
    """Recompute every savings recommendation (beat, every ``COST_SAVINGS_SECONDS``; on demand). Safe to overlap."""
    refresh = savings.refresh_recommendations()
    return {"found": refresh.found, "retired": refresh.retired}
