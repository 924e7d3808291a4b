"""Reads of a person's own notifications (nobody reads anyone else's)."""

from __future__ import annotations

from django.db.models import QuerySet

from access.models import User
from notifications.models import Notification


def inbox(user: User, *, unread_only: bool = False) -> QuerySet[Notification]:
    """``user``'s notifications, newest first."""
    notifications = Notification.objects.filter(recipient=user)
    return notifications.filter(read_at__isnull=True) if unread_only else notifications


def unread_count(user: User) -> int:
    """How many of ``user``'s notifications are unread (one indexed count)."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
