"""A region's status and DR readiness: every resource asked of its cloud, judged red, amber or green.

:func:`check_region` asks the drivers about each resource recorded for the
region (:class:`~regions.models.RegionResource`: what the build-out made, or
what was registered for a region built elsewhere) and each cluster of the
inventory, and judges what it hears against the spec's targets (section 10):

- the database's latest restorable time must be within the RPO
  (``PORTAL_DR_RPO_MINUTES``, 15): older is red, older than two thirds of it
  amber; no restorable time at all (backups or point-in-time recovery off)
  is red;
- its backup retention must be what was planned: shorter is amber, none red;
- the read replica in the DR partner must exist, be available and lag less
  than the RPO (its lag is what a failover would lose);
- the bucket must keep versions and replicate to the partner;
- the DR partner must be in the same residency zone, not retired, and hold
  the replica (and the bucket's copy). A partner without a ready cluster is
  amber: the data is safe, but workloads need a cluster built there first.

The result is one :class:`~regions.models.RegionHealth` row per region,
rewritten by the periodic task :func:`regions.tasks.check_health` (one task
per region) and by "Check now". Pages read that row and never call a cloud. A resource the
cloud cannot be asked about (credentials, throttling, an outage) is amber
with the error, never green.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from providers import errors
from providers.cloud import CloudDriver
from regions.choices import ClusterStatus, FailoverStatus, Rating, RegionStatus, ResourceStatus
from regions.models import Cluster, FailoverRequest, Namespace, Region, RegionHealth, RegionResource

ORDER = {Rating.GREEN: 0, Rating.UNKNOWN: 1, Rating.AMBER: 2, Rating.RED: 3}
# What the clouds say of a resource that is up (lower-cased).
UP = {"available", "active", "succeeded", "ready", "running", "enabled"}
BUSY = {"creating", "updating", "modifying", "backing-up", "provisioning", "upgrading", "rebooting", "pending"}
# Kinds of resource whose health the DR partner's readiness depends on.
DR_KINDS = {"database_replica", "bucket_replica"}


@dataclass(frozen=True)
class Finding:
    """One thing checked: a resource (or the DR partner), what the cloud said, the judgement and why."""

    subject: str
    kind: str
    region_code: str
    rating: str
    message: str
    state: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def worst(ratings: Iterable[str]) -> str:
    """The worst of ``ratings`` (green when there are none)."""
    return max(ratings, key=lambda rating: ORDER[Rating(rating)], default=Rating.GREEN)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _state_rating(state: str) -> str:
    state = state.lower()
    if state in UP:
        return Rating.GREEN
    if state in BUSY:
        return Rating.AMBER
    return Rating.RED


class Checker:
    """Checks one region; drivers are built once per region code (``driver_for(code)``) and reused."""

    def __init__(self, region: Region, *, now: datetime, driver_for: Callable[[str], CloudDriver]) -> None:
        self.region = region
        self.now = now
        self._driver_for = driver_for
        self._drivers: dict[str, CloudDriver] = {}
        self.rpo = timedelta(minutes=settings.DR_RPO_MINUTES)

    def driver(self, code: str) -> CloudDriver:
        if code not in self._drivers:
            self._drivers[code] = self._driver_for(code)
        return self._drivers[code]

    # --- one resource ------------------------------------------------------------------------------------------

    def check(self, resource: RegionResource) -> list[Finding]:
        subject = f"{resource.kind.replace('_', ' ')} {resource.name}"
        handler = getattr(self, f"_check_{resource.kind}", None)
        if handler is None:
            return [Finding(subject, resource.kind, resource.region_code, Rating.GREEN, "Recorded.")]
        try:
            found: list[Finding] = handler(resource, subject)
        except errors.NotFound:
            return [
                Finding(
                    subject,
                    resource.kind,
                    resource.region_code,
                    Rating.RED,
                    f"The cloud no longer has {resource.name}: it was deleted outside the portal.",
                    state="missing",
                )
            ]
        except errors.ProviderError as error:
            # Never green when nobody could look; the error (never a secret) says why.
            return [
                Finding(
                    subject,
                    resource.kind,
                    resource.region_code,
                    Rating.AMBER,
                    f"Could not check: {error}",
                    state="unknown",
                )
            ]
        return found

    def _simple(self, resource: RegionResource, subject: str, state: str, **facts: Any) -> list[Finding]:
        rating = _state_rating(state)
        message = "Up." if rating == Rating.GREEN else f"The cloud reports it {state}."
        return [Finding(subject, resource.kind, resource.region_code, rating, message, state=state, facts=facts)]

    def _check_network(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_network(resource.name)
        return self._simple(resource, subject, info.status, subnets=len(info.subnets))

    def _check_key(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_key(resource.name)
        if not info.enabled:
            return [
                Finding(
                    subject,
                    resource.kind,
                    resource.region_code,
                    Rating.RED,
                    "The key is disabled: data encrypted with it cannot be read or backed up.",
                    state="disabled",
                )
            ]
        return self._simple(resource, subject, "enabled")

    # The DR partner's key of the same alias: disabled, the replicas there cannot be read.
    _check_dr_key = _check_key

    def _check_cluster(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_kubernetes_cluster(resource.name)
        return self._simple(resource, subject, info.status, version=info.version)

    def _check_node_pool(self, resource: RegionResource, subject: str) -> list[Finding]:
        cluster = resource.settings.get("cluster", "")
        info = self.driver(resource.region_code).describe_kubernetes_cluster(cluster)
        pool = next((pool for pool in info.node_pools if pool.name == resource.name), None)
        if pool is None:
            raise errors.NotFound(resource.name)
        return self._simple(resource, subject, pool.status, desired_nodes=pool.desired_size)

    def _check_inventory(self, resource: RegionResource, subject: str) -> list[Finding]:
        return []  # the registered cluster is checked with the inventory's other clusters

    def _check_namespace(self, resource: RegionResource, subject: str) -> list[Finding]:
        cluster = resource.settings.get("cluster", "")
        if not Namespace.objects.filter(
            cluster__region=self.region, cluster__name=cluster, name=resource.name
        ).exists():
            raise errors.NotFound(resource.name)
        return [Finding(subject, resource.kind, resource.region_code, Rating.GREEN, f"Registered in {cluster}.")]

    def _check_cache(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_cache(resource.name)
        return self._simple(resource, subject, info.status, replicas=info.replicas)

    def _check_database(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_database(resource.name)
        code = resource.region_code
        findings = self._simple(resource, subject, info.status, engine_version=info.engine_version)
        planned = int(resource.settings.get("backup_retention_days") or 0)
        retention = info.backup_retention_days
        if retention <= 0:
            findings.append(
                Finding(f"{subject} (backups)", "backup", code, Rating.RED, "Automated backups are off.", facts={})
            )
        elif planned and retention < planned:
            findings.append(
                Finding(
                    f"{subject} (backups)",
                    "backup",
                    code,
                    Rating.AMBER,
                    f"Backups are kept {retention} days; the plan asks for {planned}.",
                    facts={"retention_days": retention, "planned_days": planned},
                )
            )
        else:
            findings.append(
                Finding(
                    f"{subject} (backups)",
                    "backup",
                    code,
                    Rating.GREEN,
                    f"Backups are kept {retention} days.",
                    facts={"retention_days": retention, "planned_days": planned},
                )
            )
        findings.append(self._restorable(subject, code, info.latest_restorable_time))
        if not info.encrypted:
            findings.append(
                Finding(f"{subject} (encryption)", "encryption", code, Rating.AMBER, "Storage is not encrypted.")
            )
        return findings

    def _restorable(self, subject: str, code: str, latest: datetime | None) -> Finding:
        what = f"{subject} (point-in-time recovery)"
        rpo = _minutes(self.rpo.total_seconds())
        if latest is None:
            return Finding(
                what,
                "pitr",
                code,
                Rating.RED,
                f"No restorable time: point-in-time recovery is off or has no backup yet; the RPO is {rpo}.",
            )
        behind = max((self.now - latest).total_seconds(), 0.0)
        facts = {"latest_restorable_time": latest.isoformat(), "behind_seconds": round(behind)}
        if behind > self.rpo.total_seconds():
            rating, message = Rating.RED, f"The latest restorable time is {_minutes(behind)} old, past the {rpo} RPO."
        elif behind > self.rpo.total_seconds() * 2 / 3:
            rating, message = Rating.AMBER, f"The latest restorable time is {_minutes(behind)} old, near the {rpo} RPO."
        else:
            rating, message = Rating.GREEN, f"Restorable to {_minutes(behind)} ago (RPO {rpo})."
        return Finding(what, "pitr", code, rating, message, facts=facts)

    def _check_database_replica(self, resource: RegionResource, subject: str) -> list[Finding]:
        source = resource.settings.get("source", "")
        source_region = resource.settings.get("source_region", self.region.code)
        info = self.driver(source_region).describe_database(source)
        replica = info.replica
        if replica is None or replica.region != resource.region_code:
            return [
                Finding(
                    subject,
                    resource.kind,
                    resource.region_code,
                    Rating.RED,
                    f"{source} has no replica in {resource.region_code}: a failover would have nothing to promote.",
                    state="missing",
                )
            ]
        state_rating = _state_rating(replica.status)
        rpo = _minutes(self.rpo.total_seconds())
        lag = replica.lag_seconds
        facts: dict[str, Any] = {"lag_seconds": lag}
        if state_rating != Rating.GREEN:
            rating, message = state_rating, f"The replica is {replica.status}."
        elif lag is None:
            rating, message = Rating.AMBER, "The replica's lag is unknown: a failover could lose an unknown amount."
        elif lag > self.rpo.total_seconds():
            rating, message = Rating.RED, f"The replica lags {_minutes(lag)}, past the {rpo} RPO."
        elif lag > self.rpo.total_seconds() * 2 / 3:
            rating, message = Rating.AMBER, f"The replica lags {_minutes(lag)}, near the {rpo} RPO."
        else:
            rating, message = Rating.GREEN, f"The replica lags {_minutes(lag)} (RPO {rpo})."
        return [Finding(subject, resource.kind, resource.region_code, rating, message, replica.status, facts)]

    def _check_bucket(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_bucket(resource.name)
        planned_target = resource.settings.get("replication_target_bucket") or None
        facts = {
            "versioning": info.versioning,
            "replicates_to": info.replication_target_bucket,
            "cold_storage_after_days": info.cold_storage_after_days,
        }
        if not info.versioning:
            rating, message = Rating.RED, "Versioning is off: an overwrite or delete cannot be undone."
        elif planned_target and info.replication_target_bucket != planned_target:
            rating, message = Rating.RED, f"It does not replicate to {planned_target}."
        elif resource.settings.get("cold_storage_after_days") and info.cold_storage_after_days is None:
            rating, message = Rating.AMBER, "No lifecycle rule moves old objects to cold storage."
        else:
            target = f", replicating to {info.replication_target_bucket}" if info.replication_target_bucket else ""
            rating, message = Rating.GREEN, f"Versioned{target}."
        return [Finding(subject, resource.kind, resource.region_code, rating, message, facts=facts)]

    def _check_bucket_replica(self, resource: RegionResource, subject: str) -> list[Finding]:
        info = self.driver(resource.region_code).describe_bucket(resource.name)
        rating = Rating.GREEN if info.versioning else Rating.RED
        message = "Versioned." if info.versioning else "Versioning is off: replication into it cannot work."
        return [Finding(subject, resource.kind, resource.region_code, rating, message)]

    # --- the inventory and the DR partner ---------------------------------------------------------------------

    def clusters(self, clusters: Iterable[Cluster]) -> list[Finding]:
        """The inventory's clusters as the portal last reached them.

        A learning centre's edge cluster that cannot be reached is amber (one
        centre is offline, the region is not); a cloud cluster is red.
        """
        rating = {
            ClusterStatus.READY: Rating.GREEN,
            ClusterStatus.PROVISIONING: Rating.AMBER,
            ClusterStatus.DEGRADED: Rating.AMBER,
        }
        found = []
        for cluster in clusters:
            status = ClusterStatus(cluster.status)
            centre = getattr(cluster, "centre_server", None)
            if status == ClusterStatus.READY:
                message = "Ready."
            elif centre is not None:
                state = centre.get_status_display().lower()
                message = f"It is {status.label.lower()}: the {centre.site} server is {state}."
            else:
                message = f"It is {status.label.lower()}."
            judged = rating.get(status, Rating.AMBER if centre is not None else Rating.RED)
            found.append(Finding(f"cluster {cluster.name}", "inventory_cluster", self.region.code, judged, message))
        return found

    def partner(self, findings: list[Finding], kinds: set[str]) -> tuple[Finding | None, bool]:
        """The DR partner's finding and whether it is ready to take over."""
        region, partner = self.region, self.region.dr_partner
        if not kinds & {"database", "bucket"}:
            return None, False  # no data of its own to fail over (e.g. a partner region holding others' copies)
        if partner is None:
            return (
                Finding(
                    "DR partner",
                    "dr",
                    region.code,
                    Rating.AMBER,
                    "No DR partner: an outage of this region has nowhere to fail over to.",
                ),
                False,
            )
        dr = [finding for finding in findings if finding.kind in DR_KINDS and finding.region_code == partner.code]
        subject = f"DR partner {partner.code}"
        if partner.residency_zone != region.residency_zone:
            message = f"{partner.code} lies in the {partner.residency_zone} zone, not {region.residency_zone}."
            return Finding(subject, "dr", partner.code, Rating.RED, message), False
        if partner.status == RegionStatus.RETIRED:
            return Finding(subject, "dr", partner.code, Rating.RED, f"{partner.code} is retired."), False
        broken = [finding for finding in dr if finding.rating != Rating.GREEN]
        if broken:
            rating = worst(finding.rating for finding in broken)
            return Finding(subject, "dr", partner.code, rating, f"Not ready: {broken[0].message}"), False
        if "database" in kinds and not any(finding.kind == "database_replica" for finding in dr):
            message = "No read replica is recorded there: a failover would have nothing to promote."
            return Finding(subject, "dr", partner.code, Rating.AMBER, message), False
        ready_cluster = partner.clusters.filter(status=ClusterStatus.READY).exists()
        if not ready_cluster:
            rto = settings.DR_RTO_HOURS
            message = (
                f"The data is copied, but {partner.code} has no ready cluster: workloads need one built there, "
                f"which the {rto} h RTO may not allow."
            )
            return Finding(subject, "dr", partner.code, Rating.AMBER, message), True
        return Finding(subject, "dr", partner.code, Rating.GREEN, "Ready to take over."), True


def failed_over(region: Region) -> list[Finding]:
    """The failover a degraded region went through (first: it is what its page should lead with), or nothing.

    Once an admin makes the old primary active again, the finding goes; the
    partner says it took over while the old primary stays degraded.
    """
    latest = (
        FailoverRequest.objects.filter(Q(region=region) | Q(partner=region), status=FailoverStatus.DONE)
        .select_related("region", "partner")
        .order_by("-updated_at", "-pk")
        .first()
    )
    if latest is None or latest.region.status != RegionStatus.DEGRADED:
        return []
    when = f"{timezone.localtime(latest.updated_at):%d %b %Y %H:%M}"
    if latest.region_id == region.pk:
        message = (
            f"Failed over to {latest.partner.code} on {when}: the database {latest.database} now runs there as "
            f"{latest.partner.code}'s. Build a new replica before this region serves again."
        )
        return [Finding(f"failover to {latest.partner.code}", "failover", region.code, Rating.AMBER, message)]
    message = f"Took over from {latest.region.code} on {when}: it serves the promoted database."
    return [Finding(f"failover from {latest.region.code}", "failover", region.code, Rating.GREEN, message)]


def resources_of(region: Region) -> list[RegionResource]:
    """The live resources recorded for ``region`` (built by the portal or registered), in build order."""
    return list(
        RegionResource.objects.filter(region=region, status=ResourceStatus.CREATED).order_by(
            "request_id", "position", "pk"
        )
    )


def default_driver_for(region: Region) -> Callable[[str], CloudDriver]:
    from regions.drivers import cloud_driver_in

    def driver_for(code: str) -> CloudDriver:
        if region.account is None:
            raise errors.InvalidRequest(f"{region.code} has no cloud account to ask.", resource=region.code)
        return cloud_driver_in(region.account, code)

    return driver_for


def evaluate(
    region: Region, *, now: datetime | None = None, driver_for: Callable[[str], CloudDriver] | None = None
) -> tuple[str, str, bool, list[Finding]]:
    """Check ``region`` now: its rating, the summary, whether its DR partner is ready, and every finding."""
    checker = Checker(region, now=now or timezone.now(), driver_for=driver_for or default_driver_for(region))
    findings: list[Finding] = failed_over(region)
    resources = resources_of(region)
    for resource in resources:
        findings.extend(checker.check(resource))
    findings.extend(checker.clusters(region.clusters.select_related("centre_server")))
    partner, dr_ready = checker.partner(findings, {resource.kind for resource in resources})
    if partner is not None:
        findings.append(partner)
    if not findings:
        return Rating.UNKNOWN, "Nothing recorded to check: no managed resources or clusters.", False, []
    rating = worst(finding.rating for finding in findings)
    bad = [finding for finding in findings if finding.rating == rating]
    if rating == Rating.GREEN:
        counted = f"All {len(findings)} checks are" if len(findings) > 1 else "The one check is"
        summary = f"{counted} green" + ("; the DR partner is ready." if dr_ready else ".")
    else:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        summary = f"{bad[0].subject}: {bad[0].message}{more}"
    return rating, summary[:300], dr_ready, findings


def check_region(
    region: Region, *, now: datetime | None = None, driver_for: Callable[[str], CloudDriver] | None = None
) -> RegionHealth:
    """Check ``region`` and save the result as its :class:`RegionHealth` (clouds are asked outside a transaction)."""
    now = now or timezone.now()
    rating, summary, dr_ready, findings = evaluate(region, now=now, driver_for=driver_for)
    with transaction.atomic():
        health, _ = RegionHealth.objects.select_for_update().get_or_create(region=region)
        if health.checked_at is not None and health.checked_at > now:
            return health  # a later check already wrote its answer
        health.rating = rating
        health.summary = summary
        health.dr_ready = dr_ready
        health.checks = [finding.as_json() for finding in findings]
        health.checked_at = now
        health.save()
    return health


def regions_to_check() -> list[int]:
    """The ids of every region the periodic check covers: all but the retired."""
    return list(Region.objects.exclude(status=RegionStatus.RETIRED).order_by("pk").values_list("pk", flat=True))
