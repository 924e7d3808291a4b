"""Telling people things: in the portal at once, by e-mail from a worker after the transaction commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from access.models import User
from notifications.models import Notification
from notifications.tasks import send_emails


@dataclass(frozen=True)
class Message:
    """What to tell: ``kind`` says what happened, ``url`` where to look; ``key`` makes telling it again a no-op."""

    kind: str
    title: str
    body: str = ""
    url: str = ""
    key: str = ""


def notify(recipients: Iterable[User], message: Message, *, email: bool = True) -> list[Notification]:
    """Notify each active recipient once (per ``message.key``); e-mail them after commit when ``email``.

    Returns the notifications created now (none for someone already told).
    """
    people = [user.pk for user in recipients if user.is_active]
    fields = {"kind": message.kind, "title": message.title[:200], "body": message.body, "url": message.url}
    with transaction.atomic():
        if message.key:
            created = []
            for pk in dict.fromkeys(people):
                notification, made = Notification.objects.get_or_create(
                    recipient_id=pk, key=message.key, defaults=fields
                )
                if made:
                    created.append(notification)
        else:
            created = Notification.objects.bulk_create(Notification(recipient_id=pk, **fields) for pk in set(people))
        ids = [notification.pk for notification in created]
        if email and ids:
            transaction.on_commit(lambda: send_emails.delay(ids))
    return created


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one of ``user``'s notifications (or all of them) read; how many changed. Another's is untouched."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())
