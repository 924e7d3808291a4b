"""Scheduled and background work of budgets and anomalies: thin callers of costs.budgets and costs.anomalies.

(Kept apart from ``costs/tasks.py``, the cost imports; settings list this module in ``CELERY_IMPORTS``.)
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db.models import F

from costs import anomalies, budgets
from costs.budget_models import Anomaly, BudgetAlert, ChatStatus
from costs.chat import ChatError, post_message

logger = logging.getLogger(__name__)


@shared_task(name="costs.evaluate_budgets")
def evaluate_budgets() -> int:
    """Alert every budget threshold crossed since the last run (beat, hourly); how many alerts were made."""
    return len(budgets.budgets_evaluate())


@shared_task(name="costs.detect_anomalies")
def detect_anomalies() -> int:
    """Record and tell anomalies of the last complete day (beat, hourly; each day once); how many were new."""
    return len(anomalies.anomalies_detect())


def _chat_message(kind: str, pk: int) -> tuple[BudgetAlert | Anomaly, str, str] | None:
    """The row, its webhook URL and the text to post; None when there is nothing (left) to post."""
    if kind == "budget_alert":
        alert = (
            BudgetAlert.objects.select_related("budget__team", "budget__environment", "budget__service")
            .filter(pk=pk)
            .first()
        )
        if alert is None:
            return None
        title, body = budgets.alert_text(alert)
        return alert, budgets.chat_webhook_for(alert.budget), f"*{title}*\n{body}\n{_link(alert)}"
    anomaly = Anomaly.objects.select_related("team", "service").filter(pk=pk).first()
    if anomaly is None:
        return None
    title, body = anomalies.anomaly_text(anomaly)
    return anomaly, budgets.chat_webhook_for(None), f"*{title}*\n{body}\n{_link(anomaly)}"


def _link(row: BudgetAlert | Anomaly) -> str:
    from django.urls import reverse

    path = (
        reverse("costs:budget", kwargs={"pk": row.budget_id})
        if isinstance(row, BudgetAlert)
        else reverse("costs:anomalies")
    )
    return f"{settings.BASE_URL.rstrip('/')}{path}"


@shared_task(name="costs.post_to_chat", bind=True, acks_late=True, max_retries=None)
def post_to_chat(self: Task, kind: str, pk: int) -> str:  # type: ignore[type-arg]
    """Post a budget alert (``kind="budget_alert"``) or an anomaly (``"anomaly"``) to the chat webhook.

    Idempotent: a row already sent is not posted again. A failure is
    retried ``COSTS_CHAT_RETRIES`` times with a doubling wait (an address
    the outbound rules refuse is not retried); only the
    chat post is retried, so nobody is told again in the portal. The
    attempts are counted in the row (brokers keep no delivery count).
    """
    found = _chat_message(kind, pk)
    if found is None:
        return "gone"
    row, url, text = found
    model = type(row)
    if row.chat_status != ChatStatus.PENDING:
        return str(row.chat_status or "none")
    if not url:
        model.objects.filter(pk=pk).update(chat_status=ChatStatus.NONE)
        return "none"
    try:
        post_message(url, text)
    except ChatError as error:
        attempts = row.chat_attempts + 1
        # A refused address stays refused: trying again would only probe it again.
        gave_up = error.permanent or attempts > settings.COSTS_CHAT_RETRIES
        model.objects.filter(pk=pk, chat_status=ChatStatus.PENDING).update(
            chat_attempts=F("chat_attempts") + 1,
            chat_error=error.public[:300],
            chat_status=ChatStatus.FAILED if gave_up else ChatStatus.PENDING,
        )
        # The detail (host and reason, never the URL's path) is for administrators only.
        logger.warning("chat post of %s %s failed (attempt %s): %s", kind, pk, attempts, error.detail)
        if gave_up:
            return "failed"
        raise self.retry(countdown=settings.COSTS_CHAT_RETRY_SECONDS * 2 ** (attempts - 1)) from None
    model.objects.filter(pk=pk).update(chat_status=ChatStatus.SENT, chat_attempts=F("chat_attempts") + 1, chat_error="")
    return "sent"
