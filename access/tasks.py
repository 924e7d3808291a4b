"""Scheduled work of the access app: thin callers of the services."""

from __future__ import annotations

from celery import shared_task

from access import services


@shared_task
def expire_overdue_reviews() -> list[int]:
    """Close every access review past its deadline; still-pending grants are revoked as unreviewed.

    Idempotent: a closed review is skipped, so a repeated or overlapping run changes nothing.
    """
    return services.access_reviews_expire_overdue()
