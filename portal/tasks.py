"""Tasks of the project itself, not of one app."""

from __future__ import annotations

from celery import shared_task
from django_guid import get_guid

from portal.health import redis_client

PING_KEY = "portal:ping:"


@shared_task
def ping(token: str) -> None:
    """Proves the path web → broker → worker end to end.

    Records the request id the task ran under at ``portal:ping:<token>`` for a
    minute, so whoever sent it can see both that it ran and that the request
    id travelled with it.
    """
    redis_client().set(PING_KEY + token, get_guid() or "", ex=60)
