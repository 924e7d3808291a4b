"""Demo environment templates and team limits.

Preview, team sandbox, staging with the full stack and production, as the
issue names them. Loading is idempotent: templates are keyed on their slug,
limits on their team.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from access.models import Team, Tier
from environments.choices import Approval, NamespaceGroup
from environments.models import EnvironmentTemplate, TeamLimits
from regions.choices import Provider, ResidencyZone

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
