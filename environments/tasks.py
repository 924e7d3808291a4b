"""Scheduled work of the environments app: thin callers of the services."""

from __future__ import annotations

from celery import shared_task

from environments import services


@shared_task(name="environments.expire")
def expire() -> dict[str, object]:
    """Warn owners before expiry and tear down expired environments (beat, every minute). Safe to overlap."""
    sweep = services.environments_expire()
    return {"warned": {str(hours): ids for hours, ids in sweep.warned.items()}, "expired": sweep.expired}
