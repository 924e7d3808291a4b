"""Scheduled work of the costs app: thin callers of the services."""

from __future__ import annotations

from celery import shared_task

from costs.sources import services as source_services


@shared_task(name="costs.import_sources")
def import_sources() -> list[int]:
    """Start an import of every enabled source (beat, every ``PORTAL_COSTS_IMPORT_HOURS``); the run ids.

    A source whose previous import is still under way keeps that one; one
    whose periods are all final starts none.
    """
    return [run.pk for run in source_services.import_scheduled()]
