"""Environments in the residency report: a team's live environments must run in a region of the team's zone.

:mod:`regions.residency.report` keeps the report and the rules; it learns of environments through what this module
registers (environments/apps.py), so the inventory never imports the apps above it.
"""

from __future__ import annotations

from django.db.models import F
from django.urls import reverse

from access import policy
from access.policy import AnyUser
from environments.models import Environment
from regions.residency.report import ENVIRONMENT, Breach


def environments_outside(team_id: int, zone: str) -> list[tuple[str, str, str]]:
    """(name, region code, region zone) of the team's live environments that run outside ``zone``."""
    return list(
        Environment.objects.live()
        .filter(team_id=team_id)
        .exclude(cluster__region__residency_zone=zone)
        .order_by("name")
        .values_list("name", "cluster__region__code", "cluster__region__residency_zone")
    )


def environment_breaches(user: AnyUser) -> list[Breach]:
    environments = (
        policy.restrict(Environment.objects.live(), user, policy.VIEW)
        .exclude(team__residency_zone="")
        .exclude(cluster__region__residency_zone=F("team__residency_zone"))
        .select_related("team", "cluster__region")
        .order_by("team__name", "name")
    )
    return [
        Breach(
            kind=ENVIRONMENT,
            subject=f"Environment {environment.name} of {environment.team.name}",
            zone=environment.team.residency_zone,
            region=environment.cluster.region.code,
            region_zone=environment.cluster.region.residency_zone,
            reason=(
                f"{environment.team.name}'s data must stay in {environment.team.residency_zone}; the environment "
                f"runs in {environment.cluster.region.code} ({environment.cluster.region.residency_zone}). "
                "Tear it down and request it again in a region of the team's zone."
            ),
            url=reverse("environments:detail", kwargs={"pk": environment.pk}),
        )
        for environment in environments
    ]
