"""Demo environment templates, team limits and the demo people's own environments.

Preview, team sandbox, staging with the full stack and production. Loading is
idempotent: templates are keyed on their slug, limits on their team,
environments on their team and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from access.models import Team, Tier, User
from environments.choices import Approval, EnvironmentStatus, NamespaceGroup, Size
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from regions.choices import Provider, ResidencyZone
from regions.models import Cluster

ALL_NAMESPACES = [group.value for group in NamespaceGroup]

TEMPLATES: list[dict[str, Any]] = [
    {
        "slug": "preview",
        "name": "Preview",
        "description": "A short-lived environment for one branch or pull request: core services only.",
        "tier": Tier.DEVELOPMENT,
        "namespaces": [NamespaceGroup.CORE_SERVICES],
        "quota_requests_cpu": "1",
        "quota_limits_cpu": "2",
        "quota_requests_memory": "2Gi",
        "quota_limits_memory": "4Gi",
        "quota_pods": 15,
        "limit_max_cpu": "1",
        "limit_max_memory": "2Gi",
        "ingress_host_pattern": "{env}.{team}.preview.example.com",
        "ingress_rate_limit_rps": 20,
        "allowed_providers": [Provider.AWS, Provider.AZURE, Provider.ON_PREM],
        "default_ttl_hours": 24,
        "max_ttl_hours": 72,
        "approval": Approval.NONE,
        "size_small": Decimal(1),
        "size_medium": Decimal(2),
        "size_large": Decimal(3),
    },
    {
        "slug": "team-sandbox",
        "name": "Team sandbox",
        "description": "A team's shared test environment: the student and tutor services, a small database.",
        "tier": Tier.TEST,
        "namespaces": [NamespaceGroup.CORE_SERVICES, NamespaceGroup.STUDENT_SERVICES, NamespaceGroup.TUTOR_SERVICES],
        "quota_requests_cpu": "2",
        "quota_limits_cpu": "4",
        "quota_requests_memory": "4Gi",
        "quota_limits_memory": "8Gi",
        "quota_storage": "20Gi",
        "postgresql_size": "small",
        "ingress_host_pattern": "{env}.{team}.test.example.com",
        "ingress_rate_limit_rps": 50,
        "network_allowed_namespaces": ["monitoring"],
        "allowed_providers": [Provider.AWS, Provider.AZURE],
        "default_ttl_hours": 7 * 24,
        "max_ttl_hours": 30 * 24,
        "approval": Approval.NONE,
    },
    {
        "slug": "staging",
        "name": "Staging (full stack)",
        "description": "The whole platform as production runs it: all six namespaces, PostgreSQL, Redis and a bucket.",
        "tier": Tier.STAGING,
        "namespaces": ALL_NAMESPACES,
        "quota_requests_cpu": "2",
        "quota_limits_cpu": "4",
        "quota_requests_memory": "4Gi",
        "quota_limits_memory": "8Gi",
        "quota_pods": 30,
        "quota_storage": "50Gi",
        "postgresql_size": "medium",
        "redis_size": "small",
        "bucket_size_gb": 100,
        "ingress_host_pattern": "{env}.{team}.staging.example.com",
        "ingress_rate_limit_rps": 100,
        "ingress_deny_cidrs": ["192.0.2.0/24"],
        "network_allowed_namespaces": ["monitoring"],
        "allowed_providers": [Provider.AWS, Provider.AZURE],
        "default_ttl_hours": 3 * 24,
        "max_ttl_hours": 14 * 24,
        "approval": Approval.TEAM_LEAD,
    },
    {
        "slug": "production",
        "name": "Production",
        "description": "A production stack in one residency zone: never expires, approved by a platform admin.",
        "tier": Tier.PRODUCTION,
        "namespaces": ALL_NAMESPACES,
        "quota_requests_cpu": "4",
        "quota_limits_cpu": "8",
        "quota_requests_memory": "8Gi",
        "quota_limits_memory": "16Gi",
        "quota_pods": 60,
        "quota_storage": "200Gi",
        "limit_max_cpu": "4",
        "limit_max_memory": "8Gi",
        "postgresql_size": "large",
        "redis_size": "medium",
        "bucket_size_gb": 1000,
        "ingress_host_pattern": "{env}.{team}.example.com",
        "ingress_rate_limit_rps": 500,
        "network_allowed_namespaces": ["monitoring"],
        "allowed_providers": [Provider.AWS, Provider.AZURE],
        "allowed_zones": [ResidencyZone.EU, ResidencyZone.AU, ResidencyZone.US],
        "default_ttl_hours": None,
        "max_ttl_hours": None,
        "approval": Approval.PLATFORM_ADMIN,
        "size_small": Decimal(1),
        "size_medium": Decimal("1.5"),
        "size_large": Decimal(2),
    },
]

# team slug -> (maximum environments, maximum total monthly estimate), in USD. The teams' budgets are the
# costs demo's (costs/demo.py DEMO_BUDGETS), sized from their spend.
TEAM_LIMITS = {
    "core-platform": (20, Decimal(20000)),
    "student-experience": (10, Decimal(8000)),
    "tutor-tools": (8, Decimal(6000)),
    "admin-apps": (5, Decimal(3000)),
    "data-analytics": (6, Decimal(6000)),
}


def load_demo_templates() -> None:
    for fields in TEMPLATES:
        values = {key: value for key, value in fields.items() if key != "slug"}
        template, _ = EnvironmentTemplate.objects.update_or_create(slug=fields["slug"], defaults=values)
        template.full_clean()
    for slug, (environments, maximum) in TEAM_LIMITS.items():
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            continue
        TeamLimits.objects.update_or_create(
            team=team,
            defaults={
                "max_environments": environments,
                "max_monthly_estimate": maximum,
                "currency": "USD",
            },
        )


@dataclass(frozen=True)
class PersonalEnvironment:
    """A demo person's own environment: what they find on their home page when they first sign in."""

    requester: str  # a demo username (portal.demo.PERSONAS)
    name: str
    template: str
    asked_hours_ago: int
    status: str = EnvironmentStatus.READY
    size: str = Size.SMALL


PERSONAL_CLUSTER = "eks-eu-west-1"  # in the EU, where Student Experience's data must stay
PERSONAL_ENVIRONMENTS = [
    # A preview about to expire (the home page asks whether to extend it), the team's sandbox, and a staging
    # request waiting for the team lead.
    PersonalEnvironment("developer", "checkout-preview", "preview", asked_hours_ago=20),
    PersonalEnvironment("developer", "sandbox", "team-sandbox", asked_hours_ago=3 * 24),
    PersonalEnvironment(
        "developer", "load-test", "staging", asked_hours_ago=2, status=EnvironmentStatus.PENDING_APPROVAL
    ),
    PersonalEnvironment("lead", "release-4-7", "staging", asked_hours_ago=26, size=Size.MEDIUM),
]


def load_demo_personal_environments() -> int:
    """Each demo person's own environments, as if they had asked for them (idempotent: keyed on team and name).

    Written straight with the ORM like the rest of the demo, with what a request would have stored: the
    template's lifetime counted from when it was asked, the estimate in the cluster's region, and for a
    request the policy holds, its approval request to the team lead. Returns how many were created.
    """
    from approvals.services import request_approval
    from environments.selectors import template_estimate
    from environments.services import PROVISION, environment_url

    cluster = Cluster.objects.filter(name=PERSONAL_CLUSTER).select_related("region").first()
    if cluster is None:
        return 0  # not the demo platform
    usernames = {demo.requester for demo in PERSONAL_ENVIRONMENTS}
    people = {user.username: user for user in User.objects.filter(username__in=usernames)}
    created = 0
    now = timezone.now()
    for demo in PERSONAL_ENVIRONMENTS:
        requester = people.get(demo.requester)
        team = requester.teams.order_by("name").first() if requester else None
        if requester is None or team is None:
            continue
        if Environment.objects.live().filter(team=team, name=demo.name).exists():
            continue
        template = EnvironmentTemplate.objects.get(slug=demo.template)
        comparison = template_estimate(template=template, region=cluster.region).comparison
        sizes = comparison.sizes if comparison is not None else ()
        estimate = next((found for found in sizes if found.size == demo.size), None)
        asked = now - timedelta(hours=demo.asked_hours_ago)
        environment = Environment.objects.create(
            name=demo.name,
            team=team,
            template=template,
            tier=template.tier,
            size=demo.size,
            cluster=cluster,
            requested_by=requester,
            status=demo.status,
            monthly_estimate=estimate.total if estimate is not None else Decimal(0),
            currency=estimate.currency if estimate is not None else "USD",
            expires_at=asked + timedelta(hours=template.default_ttl_hours) if template.default_ttl_hours else None,
            approver=template.approval if demo.status == EnvironmentStatus.PENDING_APPROVAL else "",
        )
        Environment.objects.filter(pk=environment.pk).update(created_at=asked)
        if demo.status == EnvironmentStatus.PENDING_APPROVAL:
            approval = request_approval(
                environment,
                purpose=PROVISION,
                requested_by=requester,
                summary=f"Environment {environment.name} for {team} ({environment.get_tier_display()})",
                reasons=[f"{template.name} environments are approved by the team lead."],
                url=environment_url(environment),
            )
            type(approval).objects.filter(pk=approval.pk).update(created_at=asked)
        created += 1
    return created
