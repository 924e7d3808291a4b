"""Scheduled work of the regions app: thin callers of :mod:`regions.health`."""

from __future__ import annotations

from celery import shared_task

from regions import health
from regions.models import Region


@shared_task(name="regions.check_health")
def check_health() -> int:
    """Check every region's resources and DR readiness (beat, ``PORTAL_REGION_HEALTH_CHECK_SECONDS``).

    One task per region, so the regions are checked side by side on the workers and a region whose cloud is
    slow or failing holds up no other. Returns how many were enqueued.
    """
    regions = health.regions_to_check()
    for region_id in regions:
        check_region_health.delay(region_id)
    return len(regions)


@shared_task(name="regions.check_region_health")
def check_region_health(region_id: int) -> str | None:
    """Check one region now ("Check now" on its page); a region deleted meanwhile is skipped."""
    region = Region.objects.select_related("account", "dr_partner").filter(pk=region_id).first()
    if region is None:
        return None
    return health.check_region(region).rating
