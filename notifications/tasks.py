"""E-mail for notifications, sent by a worker so a slow mail server never holds up a page."""

from __future__ import annotations

import logging
from datetime import timedelta
from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.models import Notification

logger = logging.getLogger(__name__)
# Mail that could not be sent is tried again by beat for this long, then left as it is (the bell still shows it).
RETRY_FOR = timedelta(hours=24)


@shared_task(name="notifications.send_emails", acks_late=True)
def send_emails(notification_ids: list[int]) -> int:
    """E-mail the notifications not e-mailed yet (a retried task sends nothing twice); how many were sent."""
    if not settings.EMAIL_ENABLED:
        return 0
    pending = list(
        Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True)
        .exclude(recipient__email="")
        .select_related("recipient")
    )
    if not pending:
        return 0
    connection = get_connection()
    try:
        connection.open()
    except (SMTPException, OSError) as error:
        _not_sent([notification.pk for notification in pending], error)
        return 0
    sent = 0
    try:
        for notification in pending:
            context = {"notification": notification, "link": _absolute(notification.url)}
            mail = EmailMultiAlternatives(
                subject=f"[Platform Portal] {notification.title}",
                body=render_to_string("notifications/email.txt", context),
                to=[notification.recipient.email],
                connection=connection,
            )
            try:
                mail.send()
            except (SMTPException, OSError) as error:
                _not_sent([notification.pk], error)
                continue
            Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now(), email_error="")
            sent += 1
    finally:
        connection.close()
    return sent


@shared_task(name="notifications.retry_emails")
def retry_emails() -> int:
    """Send again what the mail server refused or could not take in the last day."""
    failed = Notification.objects.filter(emailed_at__isnull=True, created_at__gte=timezone.now() - RETRY_FOR).exclude(
        email_error=""
    )
    return send_emails(list(failed.values_list("pk", flat=True)[:500]))


def _not_sent(ids: list[int], error: Exception) -> None:
    logger.warning("notification e-mail not sent (%s): %s", ", ".join(map(str, ids)), error)
    Notification.objects.filter(pk__in=ids).update(email_error=(str(error) or type(error).__name__)[:300])


def _absolute(path: str) -> str:
    return f"{settings.BASE_URL.rstrip('/')}{path}" if path else settings.BASE_URL
