"""Building scorecard tests: a service with what the checks look at (runs, deployments, workloads, budgets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from access.models import Team, Tier
from deployments.choices import DeploymentSource, DeploymentStatus, RunStatus
from deployments.models import Deployment, PipelineRun, Service, WebhookSource
from regions.models import Cluster
from scorecards import checks
from scorecards.models import Scorecard, ScorecardRule
from tests.factories import TeamFactory, WorkloadFactory, make_service

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def team(slug: str = "payments") -> Team:
    return Team.objects.get(pk=TeamFactory(slug=slug, name=slug.replace("-", " ").title()).pk)  # type: ignore[attr-defined]


def service(slug: str = "checkout", *, owner: Team | None = None, **fields: Any) -> Service:
    return make_service(slug=slug, team=owner or team(), **fields)


def scorecard(name: str = "Readiness") -> Scorecard:
    return Scorecard.objects.get_or_create(name=name)[0]


def rule(kind: str, *, level: str = "bronze", card: Scorecard | None = None, **fields: Any) -> ScorecardRule:
    return ScorecardRule.objects.create(scorecard=card or scorecard(), kind=kind, level=level, **fields)


def judge(of: Service, kind: str, *, now: datetime = NOW, **fields: Any) -> checks.Outcome:
    """How ``of`` fares on a new rule of ``kind`` (with its threshold in ``fields``), judged as an evaluation does."""
    made = rule(kind, **fields)
    facts = checks.gather([Service.objects.select_related("team").get(pk=of.pk)], {kind}, now=now)
    return checks.check(made, of, facts)


def deploy(
    of: Service, *, days_ago: float, tier: str = Tier.PRODUCTION, now: datetime = NOW, **fields: Any
) -> Deployment:
    finished = now - timedelta(days=days_ago)  # days_ago: since it finished (what "last deployed" counts)
    started = finished - timedelta(minutes=10)
    values: dict[str, Any] = {
        "service": of,
        "team": of.team,
        "tier": tier,
        "namespace": of.namespace_group,
        "version": f"1.0.{int(days_ago * 100)}",
        "status": DeploymentStatus.SUCCEEDED,
        "source": DeploymentSource.PIPELINE,
        "started_at": started,
        "finished_at": finished,
    }
    values.update(fields)
    return Deployment.objects.create(**values)


def pipeline_run(of: Service, number: int, *, days_ago: float, now: datetime = NOW, **fields: Any) -> PipelineRun:
    source, _ = WebhookSource.objects.get_or_create(
        name=f"ci-{of.team.slug}", defaults={"provider": "github", "team": of.team, "secret": "test-only"}
    )
    started = now - timedelta(days=days_ago)
    values: dict[str, Any] = {
        "provider": "github",
        "service": of,
        "team": of.team,
        "name": f"{of.slug} release",
        "status": RunStatus.SUCCEEDED,
        "security": {"critical": 0, "high": 0},
        "started_at": started,
        "finished_at": started + timedelta(minutes=12),
    }
    values.update(fields)
    return PipelineRun.objects.create(source=source, external_id=str(number), **values)


def runs_on(of: Service, cluster: Cluster, **fields: Any) -> None:
    WorkloadFactory(cluster=cluster, service=of, team=of.team, name=f"{of.slug}-{cluster.name}", **fields)
