"""Scheduled and background work of budgets and anomalies: thin callers of their services.

(Kept apart from ``costs/tasks.py``, the cost imports; settings list this module in ``CELERY_IMPORTS``.)
"""

from __future__ import annotations

from celery import Task, shared_task

from costs.budgets import anomalies
from costs.budgets import services as budgets
from costs.budgets.delivery import chat_deliver


@shared_task(name="costs.evaluate_budgets")
def evaluate_budgets() -> int:
    """Alert every budget threshold crossed since the last run (beat, hourly); how many alerts were made."""
    return len(budgets.budgets_evaluate())


@shared_task(name="costs.detect_anomalies")
def detect_anomalies() -> int:
    """Record and tell anomalies of the last complete day (beat, hourly; each day once); how many were new."""
    return len(anomalies.anomalies_detect())


@shared_task(name="costs.post_to_chat", bind=True, acks_late=True, max_retries=None)
def post_to_chat(self: Task, kind: str, pk: int) -> str:  # type: ignore[type-arg]
    """Post a budget alert or an anomaly to the chat webhook (:func:`costs.budgets.delivery.chat_deliver`)."""
    delivery = chat_deliver(kind, pk)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in)
    return delivery.outcome
