"""What the region page's failover section needs, without the region view knowing of failovers."""

from __future__ import annotations

from typing import Any

from django import template

from regions.failover import services as failovers
from regions.failover.views import may_request_failover
from regions.models import LIVE_FAILOVER_STATUSES, Region

register = template.Library()


@register.simple_tag(takes_context=True)
def failover_context(context: template.Context, region: Region) -> dict[str, Any]:
    """The region's partner, whether the user may ask to fail over to it, and its failovers (the live one first).

    Reads the inventory only: no cloud is asked while the region page renders.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    recent = list(failovers.failover_list(user=user).filter(region=region)[:5]) if user is not None else []
    live = next((item for item in recent if item.status in LIVE_FAILOVER_STATUSES), None)
    return {
        "partner": region.dr_partner,
        "may_request": user is not None and region.dr_partner_id is not None and may_request_failover(user, region),
        "live": live,
        "recent": recent,
    }
