"""Scheduled work of the deployments app: thin callers of the services."""

from __future__ import annotations

from celery import shared_task

from deployments import sync


@shared_task(name="deployments.sync_clusters")
def sync_clusters() -> list[int]:
    """Start a sync of every cluster in service (beat, every ``PORTAL_DEPLOYMENTS_SYNC_SECONDS``); the run ids.

    A cluster whose previous sync is still under way keeps that one.
    """
    return [run.pk for run in sync.sync_scheduled()]
