"""Posting a budget alert or an anomaly to the chat webhook, once, with its tries counted in the row.

The Celery task (:func:`costs.budgets.tasks.post_to_chat`) calls :func:`chat_deliver` and retries when it is
told to: brokers keep no delivery count, so the row does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.urls import reverse

from costs.budgets import anomalies, services
from costs.budgets.chat import ChatError, post_message
from costs.budgets.models import Anomaly, BudgetAlert, ChatStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """How a post went (sent, failed, none, gone…) and, when it should be tried again, after how many seconds."""

    outcome: str
    retry_in: int | None = None


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
        title, body = services.alert_text(alert)
        return alert, services.chat_webhook_for(alert.budget), f"*{title}*\n{body}\n{_link(alert)}"
    anomaly = Anomaly.objects.select_related("team", "service").filter(pk=pk).first()
    if anomaly is None:
        return None
    title, body = anomalies.anomaly_text(anomaly)
    return anomaly, services.chat_webhook_for(None), f"*{title}*\n{body}\n{_link(anomaly)}"


def _link(row: BudgetAlert | Anomaly) -> str:
    path = (
        reverse("costs:budget", kwargs={"pk": row.budget_id})
        if isinstance(row, BudgetAlert)
        else reverse("costs:anomalies")
    )
    return f"{settings.BASE_URL.rstrip('/')}{path}"


def chat_deliver(kind: str, pk: int) -> Delivery:
    """Post a budget alert (``kind="budget_alert"``) or an anomaly (``"anomaly"``) to the chat webhook.

    Idempotent: a row already sent is not posted again. A failure is
    retried ``COSTS_CHAT_RETRIES`` times with a doubling wait (an address
    the outbound rules refuse is not retried); only the
    chat post is retried, so nobody is told again in the portal. The
    attempts are counted in the row.
    """
    found = _chat_message(kind, pk)
    if found is None:
        return Delivery("gone")
    row, url, text = found
    model = type(row)
    if row.chat_status != ChatStatus.PENDING:
        return Delivery(str(row.chat_status or "none"))
    if not url:
        model.objects.filter(pk=pk).update(chat_status=ChatStatus.NONE)
        return Delivery("none")
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
            return Delivery("failed")
        return Delivery("retrying", retry_in=settings.COSTS_CHAT_RETRY_SECONDS * 2 ** (attempts - 1))
    model.objects.filter(pk=pk).update(chat_status=ChatStatus.SENT, chat_attempts=F("chat_attempts") + 1, chat_error="")
    return Delivery("sent")
