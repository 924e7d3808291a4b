"""The demo regions' managed data services, made in the sandbox clouds and registered, then checked.

The demo inventory (:func:`portal.demo.load_demo`) has regions built before
the portal: their PostgreSQL (with a read replica in the DR partner), Redis,
bucket (replicated to the partner) and key are made here in the simulated
clouds and registered as :class:`~regions.models.RegionResource` rows
without a request, so the region pages show each region's status and DR
readiness. Two regions are left in the state a real estate drifts into: one
database keeps its backups for fewer days than planned (amber), and one
primary lost its replica (red).

Called by ``manage.py load_demo`` (``make run``), not by the tests' demo.
Safe to run again: every ``ensure_*`` finds what the last run made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.cloud import BucketSpec, CacheSpec, CloudDriver, DatabaseSpec, KeySpec
from providers.errors import InvalidRequest
from providers.factory import cloud_driver
from regions import health
from regions.choices import Provider, ResourceStatus
from regions.drivers import sandbox_dir
from regions.models import Region, RegionResource
from regions.provider_config import account_config

# (provider, primary, DR partner): one pair per residency zone and provider.
REGION_PAIRS = [
    (Provider.AWS, "eu-west-1", "eu-central-1"),
    (Provider.AWS, "ap-southeast-2", "ap-southeast-4"),
    (Provider.AWS, "us-east-1", "us-west-2"),
    (Provider.AZURE, "westeurope", "northeurope"),
    (Provider.AZURE, "australiaeast", "australiasoutheast"),
    (Provider.AZURE, "eastus", "westus2"),
]

# (region code) -> how the demo leaves it: fewer backup days than planned, or its replica gone.
SHORT_RETENTION = {"australiaeast": 3}
LOST_REPLICA = {"us-east-1"}
PLANNED_RETENTION_DAYS = 7


def _driver(region: Region, code: str) -> CloudDriver | None:
    """A sandbox driver of the region's account in ``code`` (no latency: the demo is ready at once), or None."""
    if region.account is None:
        return None
    config = account_config(region.account, code)
    if not config.sandbox:
        return None
    return cloud_driver(config, sandbox_dir=sandbox_dir(), sandbox_latency_seconds=0)


def _register(
    region: Region, position: int, kind: str, name: str, code: str, provider_id: str, **settings: Any
) -> None:
    RegionResource.objects.update_or_create(
        request=None,
        region=region,
        kind=kind,
        name=name,
        region_code=code,
        defaults={
            "position": position,
            "provider_id": provider_id,
            "settings": settings,
            "status": ResourceStatus.CREATED,
        },
    )


def load_demo_region_resources() -> int:
    """Make and register the demo regions' data services, then check every region. Returns how many were checked."""
    for provider, code, partner_code in REGION_PAIRS:
        region = Region.objects.select_related("account").filter(provider=provider, code=code).first()
        cloud = _driver(region, code) if region is not None else None
        partner_cloud = _driver(region, partner_code) if region is not None else None
        if region is None or region.account is None or cloud is None or partner_cloud is None:
            continue
        prefix = f"platform-{code}"
        tags = {"portal.io/region": code, "portal.io/managed-by": "demo"}
        key = cloud.ensure_key(KeySpec(alias=f"{prefix}-key", description=f"Platform data in {code}", tags=tags))
        _register(region, 1, "key", key.alias, code, key.arn or key.id)
        database = cloud.ensure_database(
            DatabaseSpec(
                name=f"{prefix}-db",
                engine_version="16",
                instance_class="db.r6g.large" if provider == Provider.AWS else "GP_Standard_D4ds_v5",
                storage_gb=200,
                backup_retention_days=SHORT_RETENTION.get(code, PLANNED_RETENTION_DAYS),
                encryption_key_id=key.arn or key.id if provider == Provider.AWS else None,
                tags=tags,
            )
        )
        _register(
            region,
            2,
            "database",
            database.name,
            code,
            database.id,
            backup_retention_days=PLANNED_RETENTION_DAYS,
            point_in_time_recovery=True,
        )
        replica = cloud.ensure_database_replica(database.name, partner_code)
        _register(
            region,
            3,
            "database_replica",
            replica.name,
            partner_code,
            replica.name,
            source=database.name,
            source_region=code,
        )
        if code in LOST_REPLICA:
            cloud.delete_database_replica(database.name, partner_code)
        cache = cloud.ensure_cache(
            CacheSpec(
                name=f"{prefix}-redis",
                node_type="cache.r6g.large" if provider == Provider.AWS else "Premium",
                tags=tags,
            )
        )
        _register(region, 4, "cache", cache.name, code, cache.id)
        copy = partner_cloud.ensure_bucket(BucketSpec(name=f"{prefix}-data-dr", tags=tags))
        _register(region, 5, "bucket_replica", copy.name, partner_code, copy.name, versioning=True)
        bucket = cloud.ensure_bucket(
            BucketSpec(
                name=f"{prefix}-data",
                replication_target_bucket=copy.name,
                replication_role=f"arn:aws:iam::{region.account.external_id}:role/portal-s3-replication"
                if provider == Provider.AWS
                else "",
                cold_storage_after_days=90,
                tags=tags,
            )
        )
        _register(
            region,
            6,
            "bucket",
            bucket.name,
            code,
            bucket.name,
            versioning=True,
            replication_target_bucket=copy.name,
            cold_storage_after_days=90,
        )
    checked = 0
    for region in Region.objects.select_related("account", "dr_partner"):
        health.check_region(region, driver_for=_simulated(region))
        checked += 1
    return checked


def _simulated(region: Region) -> Callable[[str], CloudDriver]:
    def driver_for(code: str) -> CloudDriver:
        driver = _driver(region, code)
        if driver is None:
            raise InvalidRequest(f"{code} is not simulated: the workers check it with the live cloud.", resource=code)
        return driver

    return driver_for
