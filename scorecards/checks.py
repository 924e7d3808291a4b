"""The check kinds a scorecard rule can use, each judging one service from facts gathered for all of them at once.

:func:`gather` reads what the checks need about every service in a fixed number of queries, whatever the
number of services: the owning teams' member counts, each service's last finished pipeline run
(``DISTINCT ON``), its last production deployment (one aggregate), its change failure rate over the last 30
days (:func:`deployments.dora.change_failures_by_service`, the DORA page's own definitions), the clusters its
present workloads run on, and its team's budget (:func:`costs.budgets.services.team_budgets` and
:func:`costs.budgets.services.budget_statuses`). Only what the rules in use need is read.

Whether a Kubernetes version is supported is the cloud's word (:func:`regions.versions.offered_versions`,
cached an hour): a cluster's cloud is asked once per account and region, not once per service. An on-prem
k3s cluster has no cloud to ask; it follows upstream Kubernetes, which supports its newest minor releases,
the ones the clouds offer in standard support. When no cloud can be asked the rule is "not checked", never
passed.

Each check returns an :class:`Outcome`: passed, failed or not checked, with the reason in words that say
what was found and what the rule asks ("Last deployed to production 41 days ago (rule: within 14 days)").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from access.models import Team, Tier
from costs.budgets.models import BudgetPeriod
from costs.budgets.services import BudgetStatus, budget_statuses, team_budgets
from deployments.choices import DeploymentSource, DeploymentStatus, RunStatus
from deployments.dora import ChangeFailures, change_failures_by_service
from deployments.models import Deployment, PipelineRun, Service, Workload
from portal import numbers
from providers.cloud import KubernetesVersionInfo
from regions import versions
from regions.choices import ClusterKind, Provider
from regions.models import CloudAccount, Cluster, Region
from scorecards.choices import CheckKind, ResultStatus
from scorecards.models import ScorecardRule, format_percent

CHANGE_FAILURE_DAYS = 30
MAX_REASON = 1000
SHIPPED = (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK)
UNFINISHED_RUNS = (RunStatus.QUEUED, RunStatus.RUNNING)
SEVERITIES = ["critical", "high", "medium", "low", "info"]


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str


def passed(reason: str) -> Outcome:
    return Outcome(ResultStatus.PASSED, _bounded(reason))


def failed(reason: str) -> Outcome:
    return Outcome(ResultStatus.FAILED, _bounded(reason))


def not_checked(reason: str) -> Outcome:
    return Outcome(ResultStatus.UNKNOWN, _bounded(reason))


def _bounded(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


# --- the facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    """A service's last finished pipeline run, as the checks need it."""

    label: str
    security: Any
    at: datetime | None


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    kind: str
    version: str
    provider: str
    region_code: str
    account: CloudAccount | None

    @property
    def provider_label(self) -> str:
        return Provider(self.provider).label if self.provider in Provider.values else self.provider

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


class KubernetesSupport:
    """Which Kubernetes versions are supported where clusters run: each cloud asked once per account and region
    for the whole evaluation (and cached an hour across evaluations by :mod:`regions.versions`)."""

    def __init__(self) -> None:
        self._offered: dict[tuple[int, str], list[KubernetesVersionInfo] | versions.VersionsUnavailable] = {}
        self._upstream: list[str] | versions.VersionsUnavailable | None = None

    def offered(self, account: CloudAccount, region_code: str) -> list[KubernetesVersionInfo]:
        """What ``account`` offers in ``region_code``; raises VersionsUnavailable when it cannot be asked."""
        key = (account.pk, region_code)
        if key not in self._offered:
            try:
                self._offered[key] = versions.offered_versions(account, region_code)
            except versions.VersionsUnavailable as error:
                self._offered[key] = error
        answer = self._offered[key]
        if isinstance(answer, versions.VersionsUnavailable):
            raise answer
        return answer

    def upstream(self) -> list[str]:
        """The minor versions upstream Kubernetes supports: those any cloud account offers in standard support,
        newest first. Raises VersionsUnavailable when no cloud could be asked."""
        if self._upstream is None:
            self._upstream = self._ask_every_cloud()
        if isinstance(self._upstream, versions.VersionsUnavailable):
            raise self._upstream
        return self._upstream

    def _ask_every_cloud(self) -> list[str] | versions.VersionsUnavailable:
        found: set[str] = set()
        asked = False
        problem = "the portal has no cloud account to ask which Kubernetes versions are supported."
        seen: set[int] = set()
        regions = Region.objects.filter(account__isnull=False).select_related("account").order_by("account_id", "code")
        for region in regions:
            if region.account is None or region.account.pk in seen:
                continue
            seen.add(region.account.pk)
            try:
                offered = self.offered(region.account, region.code)
            except versions.VersionsUnavailable as error:
                problem = error.message
                continue
            asked = True
            found |= {info.version for info in offered if info.support == "standard"}
        if not asked:
            return versions.VersionsUnavailable(problem)
        return sorted(found, key=_version_number, reverse=True)


def _version_number(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


@dataclass
class Facts:
    """What the checks know about every service, read once for an evaluation."""

    now: datetime
    members: dict[int, int] = field(default_factory=dict)  # team id -> members
    last_runs: dict[int, LastRun] = field(default_factory=dict)  # service id -> its last finished run
    last_production: dict[int, datetime] = field(default_factory=dict)  # service id -> last shipped to production
    change_failures: dict[int, ChangeFailures] = field(default_factory=dict)
    clusters: dict[int, list[ClusterFacts]] = field(default_factory=dict)  # service id -> where it runs
    budgets: dict[int, BudgetStatus] = field(default_factory=dict)  # team id -> its budget this period
    kubernetes: KubernetesSupport = field(default_factory=KubernetesSupport)


def gather(services: Sequence[Service], kinds: Iterable[str], *, now: datetime | None = None) -> Facts:
    """The facts the checks of ``kinds`` need about ``services``, in a number of queries that does not grow
    with the number of services (each read covers every service at once)."""
    kinds = set(kinds)
    facts = Facts(now=now or timezone.now())
    service_ids = [service.pk for service in services]
    team_ids = sorted({service.team_id for service in services})
    if CheckKind.OWNER in kinds:
        facts.members = dict(
            Team.objects.filter(pk__in=team_ids).annotate(count=Count("memberships")).values_list("pk", "count")
        )
    if CheckKind.NO_CRITICAL_FINDINGS in kinds:
        facts.last_runs = _last_runs(service_ids)
    if CheckKind.DEPLOYED_WITHIN in kinds:
        shipped = (
            Deployment.objects.filter(service_id__in=service_ids, tier=Tier.PRODUCTION, status__in=SHIPPED)
            .exclude(source=DeploymentSource.ROLLBACK)
            .values("service_id")
            .annotate(last=Max(Coalesce("finished_at", "started_at")))
            .values_list("service_id", "last")
            .order_by()
        )
        facts.last_production = dict(shipped)
    if CheckKind.CHANGE_FAILURE_RATE in kinds:
        end = timezone.localdate(facts.now) + timedelta(days=1)
        facts.change_failures = change_failures_by_service(
            Deployment.objects.filter(service_id__in=service_ids),
            start=end - timedelta(days=CHANGE_FAILURE_DAYS),
            end=end,
        )
    if CheckKind.SUPPORTED_KUBERNETES in kinds:
        facts.clusters = _clusters(service_ids)
    if CheckKind.WITHIN_BUDGET in kinds:
        budgets = list(team_budgets(team_ids=team_ids).values())
        facts.budgets = {
            status.budget.team_id: status for status in budget_statuses(budgets, today=timezone.localdate(facts.now))
        }
    return facts


def _last_runs(service_ids: list[int]) -> dict[int, LastRun]:
    """Each service's newest finished pipeline run, in one query (PostgreSQL's DISTINCT ON)."""
    rows = (
        PipelineRun.objects.filter(service_id__in=service_ids)
        .exclude(status__in=UNFINISHED_RUNS)
        .order_by("service_id", F("started_at").desc(nulls_last=True), "-pk")
        .distinct("service_id")
        .values("service_id", "name", "provider", "external_id", "security", "started_at", "finished_at")
    )
    return {
        row["service_id"]: LastRun(
            label=f"{row['name'] or row['provider']} #{row['external_id']}",
            security=row["security"],
            at=row["finished_at"] or row["started_at"],
        )
        for row in rows
    }


def _clusters(service_ids: list[int]) -> dict[int, list[ClusterFacts]]:
    """The clusters each service has a present workload on, in two queries."""
    pairs = list(
        Workload.objects.filter(service_id__in=service_ids, gone_at__isnull=True)
        .values_list("service_id", "cluster_id")
        .distinct()
        .order_by()
    )
    clusters = {
        cluster.pk: ClusterFacts(
            name=cluster.name,
            kind=cluster.kind,
            version=cluster.kubernetes_version,
            provider=cluster.region.provider,
            region_code=cluster.region.code,
            account=cluster.region.account,
        )
        for cluster in Cluster.objects.filter(pk__in={cluster for _, cluster in pairs}).select_related(
            "region__account"
        )
    }
    found: dict[int, list[ClusterFacts]] = defaultdict(list)
    for service_id, cluster_id in pairs:
        found[service_id].append(clusters[cluster_id])
    return {service_id: sorted(facts, key=lambda cluster: cluster.name) for service_id, facts in found.items()}


# --- words ------------------------------------------------------------------------------------------------


def _ago(moment: datetime, now: datetime) -> str:
    days = (now - moment).days
    if days < 1:
        return "less than a day ago"
    return f"{days} day{'s' if days != 1 else ''} ago"


def _money(value: Decimal, currency: str) -> str:
    return f"{numbers.money(value)} {currency}"


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _joined(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- the checks -------------------------------------------------------------------------------------------


def check_owner(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    members = facts.members.get(service.team_id, 0)
    if members:
        return passed(f"Owned by {service.team.name} ({members} member{'s' if members != 1 else ''}).")
    return failed(f"Owned by {service.team.name}, which has no members: nobody would answer for it.")


def check_runbook(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    if service.runbook_url:
        return passed(f"Runbook: {service.runbook_url}")
    return failed("No runbook link is set. Add it on the service's Edit page.")


def check_oncall(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    if service.oncall_url:
        return passed(f"On call: {service.oncall_url}")
    return failed("No on-call link is set. Add it on the service's Edit page.")


def check_no_critical_findings(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    run = facts.last_runs.get(service.pk)
    if run is None:
        return failed("No finished pipeline run of this service has been reported, so nothing shows its findings.")
    when = f", {_ago(run.at, facts.now)}" if run.at is not None else ""
    findings = run.security if isinstance(run.security, dict) else {}
    counts = {str(severity): _count(value) for severity, value in findings.items()}
    if not counts:
        return failed(f"The last pipeline run ({run.label}{when}) reported no security scan results.")
    critical = counts.get("critical") or 0
    if any(value is None for value in counts.values()):
        return failed(f"The last pipeline run ({run.label}{when}) reported security findings the portal cannot read.")
    # Most severe first (the database keeps no order of the keys).
    ordered = sorted(
        counts, key=lambda severity: (SEVERITIES.index(severity) if severity in SEVERITIES else 9, severity)
    )
    others = [f"{counts[severity]} {severity}" for severity in ordered if severity != "critical" and counts[severity]]
    beside = f" ({', '.join(others)})" if others else ""
    if critical:
        return failed(
            f"The last pipeline run ({run.label}{when}) reported {critical} critical security "
            f"finding{'s' if critical != 1 else ''}{beside}."
        )
    return passed(f"The last pipeline run ({run.label}{when}) reported no critical security finding{beside}.")


def check_deployed_within(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    days = rule.days or 0
    asked = f"(rule: within {days} day{'s' if days != 1 else ''})"
    last = facts.last_production.get(service.pk)
    if last is None:
        return failed(f"Never deployed to production {asked}.")
    reason = f"Last deployed to production {_ago(last, facts.now)} {asked}."
    return passed(reason) if facts.now - last <= timedelta(days=days) else failed(reason)


def check_change_failure_rate(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    limit = rule.percent or Decimal(0)
    asked = f"(rule: under {format_percent(limit)})"
    measured = facts.change_failures.get(service.pk)
    if measured is None or not measured.deployments:
        return passed(f"No production deployment in the last {CHANGE_FAILURE_DAYS} days, so none failed {asked}.")
    rate = Decimal(measured.failures * 100) / Decimal(measured.deployments)
    plural = "s" if measured.deployments != 1 else ""
    reason = (
        f"Change failure rate {format_percent(rate)} over the last {CHANGE_FAILURE_DAYS} days: "
        f"{measured.failures} of {measured.deployments} production deployment{plural} failed {asked}."
    )
    return passed(reason) if rate < limit else failed(reason)


def _judge_cluster(cluster: ClusterFacts, support: KubernetesSupport, *, extended_ok: bool) -> Outcome:
    """One cluster's version: the reason fragment names the cluster, its version and the cloud's word."""
    version = f"{cluster.name} (Kubernetes {cluster.version})"
    if cluster.account is None or cluster.kind == ClusterKind.K3S:
        try:
            upstream = support.upstream()
        except versions.VersionsUnavailable as error:
            return not_checked(f"{version}: {error.message}")
        if cluster.minor in upstream:
            return passed(version)
        return failed(
            f"{cluster.name} runs Kubernetes {cluster.version}, a release upstream Kubernetes no longer supports "
            f"(it supports {', '.join(upstream)}, as the clouds offer them in standard support)"
        )
    try:
        offered = support.offered(cluster.account, cluster.region_code)
    except versions.VersionsUnavailable as error:
        return not_checked(f"{version}: {error.message}")
    info = next((item for item in offered if item.version == cluster.minor), None)
    provider, region = cluster.provider_label, cluster.region_code
    if info is None:
        return failed(
            f"{cluster.name} runs Kubernetes {cluster.version}, which {provider} no longer supports in {region} "
            f"(it offers {versions.describe(offered)})"
        )
    if info.support == "preview":
        return failed(f"{cluster.name} runs Kubernetes {cluster.version}, only a preview on {provider} in {region}")
    if info.support == "extended" and not extended_ok:
        return failed(
            f"{cluster.name} runs Kubernetes {cluster.version}, which {provider} supports in {region} only in "
            "extended support (rule: standard support only)"
        )
    return passed(f"{cluster.name} (Kubernetes {cluster.version}, {versions.SUPPORT_LABELS[info.support]})")


def check_supported_kubernetes(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    clusters = facts.clusters.get(service.pk, [])
    if not clusters:
        return failed("Runs on no cluster the portal syncs, so nothing shows which Kubernetes version it is on.")
    judged = [_judge_cluster(cluster, facts.kubernetes, extended_ok=rule.extended_support) for cluster in clusters]
    failures = [outcome.reason for outcome in judged if outcome.status == ResultStatus.FAILED]
    if failures:
        return failed("; ".join(failures) + ".")
    unknown = [outcome.reason for outcome in judged if outcome.status == ResultStatus.UNKNOWN]
    if unknown:
        return not_checked("Could not be checked: " + "; ".join(unknown))
    return passed(f"Runs on {_joined([outcome.reason for outcome in judged])}: each version is supported.")


def check_within_budget(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    team = service.team.name
    status = facts.budgets.get(service.team_id)
    if status is None:
        return failed(
            f"{team} has no active team budget, so its spend cannot be checked against one "
            "(a manager sets one on Costs, Budgets)."
        )
    budget = status.budget
    period = "this quarter" if budget.period == BudgetPeriod.QUARTERLY else "this month"
    spent = (
        f"{team} has spent {_money(status.actual, budget.currency)} of its "
        f"{_money(budget.amount, budget.currency)} budget {period} ({status.percent_actual} %)"
    )
    if status.over:
        return failed(f"{spent}: over by {_money(status.overspend, budget.currency)}.")
    return passed(f"{spent}.")


CHECKS: dict[str, Callable[[ScorecardRule, Service, Facts], Outcome]] = {
    CheckKind.OWNER: check_owner,
    CheckKind.RUNBOOK: check_runbook,
    CheckKind.ONCALL: check_oncall,
    CheckKind.NO_CRITICAL_FINDINGS: check_no_critical_findings,
    CheckKind.DEPLOYED_WITHIN: check_deployed_within,
    CheckKind.CHANGE_FAILURE_RATE: check_change_failure_rate,
    CheckKind.SUPPORTED_KUBERNETES: check_supported_kubernetes,
    CheckKind.WITHIN_BUDGET: check_within_budget,
}


def check(rule: ScorecardRule, service: Service, facts: Facts) -> Outcome:
    """How ``service`` fares on ``rule``."""
    return CHECKS[rule.kind](rule, service, facts)
