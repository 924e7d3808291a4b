"""``regions.failover``: fail a region over to its DR partner by promoting the database's read replica there.

Four steps, each idempotent, so a worker killed in the middle of one (or a
retry after a failure) performs it again safely:

1. check that the replica is there and record how far behind it is;
2. promote it to a standalone primary with backups on (the primary's
   retention), and wait until the cloud reports it available. The drivers'
   promotion changes nothing when asked again, so a second try finds the
   first one's database;
3. record it: the replica's :class:`~regions.models.RegionResource` becomes
   promoted, and the partner region gains a ``database`` record;
4. the inventory: the partner serves (active), the old primary is degraded.

There is no undo: a promoted replica cannot become a replica again (a new
replica must be built from it), so a failure is resolved by retrying the
step. The drivers come from :func:`regions.workflows.cloud_driver`, the door
the build-out uses too, so tests put moto or the Azure transport there once
for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from providers import errors
from providers.cloud import CloudDriver, DatabaseInfo
from regions import workflows as build_workflows
from regions.choices import RegionStatus, ResourceStatus
from regions.models import CloudAccount, Region, RegionResource
from workflows.engine import NotYet, PlannedStep, StepContext, StepFailed, Workflow, register

FAILOVER = "regions.failover"


def failover_params(
    *,
    failover_id: int,
    account_id: int,
    primary_id: int,
    partner_id: int,
    primary_code: str,
    partner_code: str,
    database: str,
    replica: str,
    backup_retention_days: int,
) -> dict[str, Any]:
    """The run's parameters: names and ids only, never a secret."""
    return {
        "failover_id": failover_id,
        "account_id": account_id,
        "primary_id": primary_id,
        "partner_id": partner_id,
        "primary_code": primary_code,
        "partner_code": partner_code,
        "database": database,
        "replica": replica,
        "backup_retention_days": backup_retention_days,
    }


def _cloud(params: Mapping[str, Any], region_code: str) -> CloudDriver:
    account = CloudAccount.objects.get(pk=params["account_id"])
    return build_workflows.cloud_driver(account, region_code)


def _wait_for(status: str, what: str) -> None:
    """Raise NotYet until the cloud reports the database usable (the build-out's notion of ready)."""
    if status.lower() not in build_workflows.READY:
        raise NotYet(f"{what} is {status}", retry_after=settings.WORKFLOW_RECHECK_SECONDS)


def _promoted(params: Mapping[str, Any]) -> DatabaseInfo:
    """Promote the replica (again: the drivers change nothing the second time) and return the promoted database."""
    return _cloud(params, params["primary_code"]).promote_database_replica(
        params["database"], params["partner_code"], backup_retention_days=params["backup_retention_days"]
    )


@register
class FailoverRegion(Workflow):
    """``regions.failover``: check, promote, record, serve from the partner. No undo: a promotion is final."""

    kind = FAILOVER

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        database, replica = params["database"], params["replica"]
        primary, partner = params["primary_code"], params["partner_code"]
        return [
            PlannedStep(f"Check the replica of {database} in {partner}", "check"),
            PlannedStep(f"Promote {replica} in {partner} to a primary with backups", "promote"),
            PlannedStep(f"Record {replica} as the database of {partner}", "record"),
            PlannedStep(f"Serve from {partner}: {partner} active, {primary} degraded", "inventory"),
        ]

    def do_check(self, ctx: StepContext) -> Mapping[str, Any]:
        """The replica is in the partner region and replicating; its lag is what the failover loses."""
        params = ctx.run_params
        try:
            replica = _cloud(params, params["primary_code"]).describe_database(params["database"]).replica
        except errors.NotFound:
            replica = None
        except errors.ProviderError as error:
            # The primary's region does not answer (the outage a failover is for): the partner's word will do.
            from regions.failover.services import replica_in_partner

            account = CloudAccount.objects.get(pk=params["account_id"])
            found = replica_in_partner(account, params["partner_code"], params["replica"])
            if found is None:
                raise StepFailed(
                    f"{params['primary_code']} did not answer ({error}) and {params['partner_code']} finds no "
                    f"replica {params['replica']}: nothing to promote."
                ) from error
            _wait_for(found.status, f"the replica {found.name}")
            return {"lag_seconds": None, "already_promoted": False, "primary_unreachable": str(error)}
        if replica is None or replica.region != params["partner_code"]:
            # Promoted by an earlier try whose record was lost (a worker killed after the promotion)?
            try:
                promoted = _cloud(params, params["partner_code"]).describe_database(params["replica"])
            except errors.NotFound:
                promoted = None
            if promoted is not None and promoted.replica is None:
                return {"lag_seconds": None, "already_promoted": True}
            raise StepFailed(
                f"The cloud reports no replica of {params['database']} in {params['partner_code']}: nothing to promote."
            )
        _wait_for(replica.status, f"the replica {replica.name}")
        return {"lag_seconds": replica.lag_seconds, "already_promoted": False}

    def do_promote(self, ctx: StepContext) -> Mapping[str, Any]:
        """Promote, then wait (NotYet) until the cloud says the promoted database is available."""
        try:
            info = _promoted(ctx.run_params)
        except errors.NotFound as error:
            raise StepFailed(f"There is no replica to promote: {error}") from error
        _wait_for(info.status, f"the promoted database {info.name}")
        if info.replica is not None:
            raise NotYet(f"{info.name} still replicates from {ctx.run_params['database']}", retry_after=10)
        return {
            "name": info.name,
            "provider_id": info.id,
            "endpoint": f"{info.endpoint}:{info.port}",
            "backup_retention_days": info.backup_retention_days,
        }

    def do_record(self, ctx: StepContext) -> Mapping[str, Any]:
        """The replica's record is promoted; the partner region holds a database record (once, whatever the tries)."""
        params = ctx.run_params
        promoted = next((output for output in ctx.outputs.values() if "provider_id" in output), {})
        with transaction.atomic():
            primary = Region.objects.get(pk=params["primary_id"])
            partner = Region.objects.get(pk=params["partner_id"])
            RegionResource.objects.filter(
                region=primary,
                kind="database_replica",
                name=params["replica"],
                region_code=params["partner_code"],
                status=ResourceStatus.CREATED,
            ).update(status=ResourceStatus.PROMOTED)
            # Made by a failover, not by a build of the partner: a record of the partner region with no request.
            record, _ = RegionResource.objects.update_or_create(
                request=None,
                region=partner,
                kind="database",
                name=params["replica"],
                region_code=params["partner_code"],
                defaults={
                    "position": 0,
                    "provider_id": str(promoted.get("provider_id", ""))[:500],
                    "status": ResourceStatus.CREATED,
                    "settings": {
                        "promoted_from": params["database"],
                        "primary_region": params["primary_code"],
                        "failover": params["failover_id"],
                        "endpoint": promoted.get("endpoint", ""),
                        "backup_retention_days": promoted.get("backup_retention_days"),
                    },
                },
            )
        return {"record": record.pk}

    def do_inventory(self, ctx: StepContext) -> Mapping[str, Any]:
        """The partner now serves (a planned partner too); the old primary is degraded."""
        params = ctx.run_params
        with transaction.atomic():
            primary = Region.objects.select_for_update().get(pk=params["primary_id"])
            partner = Region.objects.select_for_update().get(pk=params["partner_id"])
            Region.objects.filter(pk=partner.pk).update(status=RegionStatus.ACTIVE)
            if primary.status != RegionStatus.RETIRED:
                Region.objects.filter(pk=primary.pk).update(status=RegionStatus.DEGRADED)
        return {"partner": partner.code, "primary": primary.code}
