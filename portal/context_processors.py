"""Navigation shown in the layout: only sections that exist and that the user may open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from access import policy


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


# (label, URL name, the model the section lists). A section whose app or URL
# is not installed stays hidden.
SECTIONS = [
    ("Environments", "environments:list", "environments.Environment"),
    ("Deployments", "deployments:list", "deployments.Deployment"),
    ("Scorecards", "scorecards:list", "scorecards.Scorecard"),
    ("Costs", "costs:overview", "costs.CostRollup"),
    ("Regions", "regions:list", "regions.Region"),
    ("Access", "access:overview", "access.Team"),
    ("Audit log", "access:audit", "access.AuditEvent"),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    items: list[NavItem] = []
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": items}
    for label, url_name, model_name in SECTIONS:
        try:
            url = reverse(url_name)
            model = apps.get_model(model_name)
        except (NoReverseMatch, LookupError):
            continue
        if policy.can(user, policy.VIEW, model):
            items.append(NavItem(label, url, False))
    # The section of the page is the one with the longest matching address (/costs/prices/ is Prices, not Costs).
    current = max(
        (item for item in items if request.path.startswith(item.url)), key=lambda item: len(item.url), default=None
    )
    return {"navigation": [NavItem(item.label, item.url, item is current) for item in items]}
