"""Every name the drivers send obeys the cloud's documented rule, however long the names people choose; names
that are unique across a whole cloud carry the installation, so two installations never collide.

The names come from the plans that build them (an environment's add-ons, a region's data services), for long
environment names, large ids, long region codes and both installation id lengths. On AWS the request botocore
is about to send is read (``before-parameter-build``) and checked against the rules below, written from the API
reference; the Azure fake refuses a name that breaks Azure's rules as ARM does (``NAME_RULES`` there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

import pytest

from environments.workflows import EnvironmentPlan
from providers import errors, names
from providers.azure.cloud import storage_account_name
from providers.cloud import BucketSpec, CacheSpec, DatabaseSpec, NetworkSpec
from regions import plan as region_plan
from regions.choices import Provider
from regions.models import RegionRequest
from tests.providers.conftest_cloud import (
    AZURE_SUBSCRIPTION,
    DR_REGION,
    CloudHarness,
    aws_harness,
    azure_harness,
    moto_endpoint,
    settled,
)
from tests.providers.test_aws_cloud import dr_placement

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

# botocore operation → the parameter holding the new resource's name, and the rule it must obey.
AWS_RULES: dict[str, tuple[str, str, int]] = {
    # CreateDBInstance / CreateDBInstanceReadReplica, DBInstanceIdentifier: "Must contain from 1 to 63 letters,
    # numbers, or hyphens. First character must be a letter. Can't end with a hyphen or contain two consecutive
    # hyphens."
    "CreateDBInstance": ("DBInstanceIdentifier", r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)", 63),
    "CreateDBInstanceReadReplica": ("DBInstanceIdentifier", r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)", 63),
    # CreateReplicationGroup, ReplicationGroupId: "A name must contain from 1 to 40 alphanumeric characters or
    # hyphens. The first character must be a letter. A name cannot end with a hyphen or contain two consecutive
    # hyphens."
    "CreateReplicationGroup": ("ReplicationGroupId", r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)", 40),
    # General purpose bucket naming rules: 3 to 63 characters, lower-case letters, numbers, dots and hyphens,
    # beginning and ending with a letter or number; not starting with xn--, sthree- or amzn-s3-demo-, not ending
    # with -s3alias or --ol-s3.
    "CreateBucket": (
        "Bucket",
        r"(?!xn--|sthree-|amzn-s3-demo-)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?<!-s3alias)(?<!--ol-s3)",
        63,
    ),
}

LONG_NAME = "payments-checkout-preview-for-the-q4-sale"[:40]  # an environment name may have 40 characters
ENVIRONMENTS = [(7, "a"), (42, "payments-preview"), (1_234_567, LONG_NAME), (98_765, "x" * 40)]
REGIONS = {
    "aws": ["eu-west-2", "ap-southeast-5", "us-gov-west-1"],
    "azure": ["westeurope", "germanywestcentral", "southafricanorth", "australiacentral2"],
}
INSTALLATIONS = ["tests", "p1234567"]


@dataclass(frozen=True)
class Names:
    """What one installation would build: its databases, caches and buckets."""

    databases: tuple[str, ...]
    caches: tuple[str, ...]
    buckets: tuple[str, ...]


def names_built(provider: str, installation: str, settings: Any) -> Names:
    """The names the environment and region plans give their data services, for every case above."""
    settings.INSTALLATION_ID = installation
    databases: list[str] = []
    caches: list[str] = []
    buckets: list[str] = []
    for environment_id, name in ENVIRONMENTS:
        plan = EnvironmentPlan(
            environment_id=environment_id, name=name, team="t" * 63, tier="dev", cluster_id=1, namespaces=()
        )
        databases.append(plan.resource_name("db"))
        caches.append(plan.resource_name("redis"))
        buckets.append(plan.bucket_name())
    account = SimpleNamespace(external_id=AZURE_SUBSCRIPTION if provider == "azure" else "123456789012")
    request = cast(RegionRequest, SimpleNamespace(provider=provider, account=account))
    for code in REGIONS[provider]:
        databases.append(region_plan.database_name(provider, code))
        caches.append(region_plan.cache_name(provider, code))
        bucket = region_plan.bucket_name(request, code)
        buckets += [bucket, f"{bucket}-dr"]
    return Names(tuple(databases), tuple(caches), tuple(buckets))


def test_every_name_the_aws_driver_sends_obeys_the_documented_rule(moto_endpoint: str, settings: Any) -> None:
    driver = aws_harness(moto_endpoint).driver
    sent: list[tuple[str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in AWS_RULES:
            sent.append((model.name, params[AWS_RULES[model.name][0]]))

    driver.on("before-parameter-build", record)
    built = names_built(Provider.AWS, "p1234567", settings)
    network = driver.ensure_network(
        NetworkSpec(
            "names-network", "10.42.0.0/16", (), ("10.42.0.0/24", "10.42.1.0/24"), ("10.42.10.0/24", "10.42.11.0/24")
        )
    )
    placed: dict[str, Any] = {
        "subnet_ids": tuple(subnet.id for subnet in network.subnets if not subnet.public),
        "vpc_id": network.id,
        "allowed_cidr": network.cidr,
    }

    replica_placement = dr_placement(driver.in_region(DR_REGION))
    for name in built.databases:
        spec = DatabaseSpec(name, "16.4", "db.t4g.medium", 20, 7, replica_region=DR_REGION, **placed)
        driver.ensure_database(replace(spec, replica_placement=replica_placement))
    for name in built.caches:
        driver.ensure_cache(CacheSpec(name=name, node_type="cache.t4g.small", **placed))
    for name in built.buckets:
        driver.ensure_bucket(BucketSpec(name=name))

    assert {operation for operation, _ in sent} == set(AWS_RULES)
    broken = [
        (operation, name)
        for operation, name in sent
        if len(name) > AWS_RULES[operation][2] or not re.fullmatch(AWS_RULES[operation][1], name)
    ]
    assert broken == []


def test_every_name_the_azure_driver_sends_is_one_azure_accepts(settings: Any) -> None:
    cloud: CloudHarness = azure_harness()
    built = names_built(Provider.AZURE, "p1234567", settings)

    for name in built.databases:
        spec = DatabaseSpec(name, "16", "Standard_D2ds_v5", 32, 7, replica_region="germanywestcentral")
        settled(partial(cloud.driver.ensure_database, spec))  # the replica is made once the primary is up
    for name in built.caches:
        cloud.driver.ensure_cache(CacheSpec(name=name, node_type="Premium_P1"))
    for name in built.buckets:
        cloud.driver.ensure_bucket(BucketSpec(name=name))

    servers = {
        key.rsplit("/", 1)[1]
        for key in cloud.backend.resources
        if "/flexibleservers/" in key and "/" not in key.split("/flexibleservers/", 1)[1]
    }
    assert len(servers) == 2 * len(built.databases), "every primary and its replica were created"


def test_a_name_the_cloud_would_refuse_is_refused_before_anything_is_sent(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    sent: list[str] = []
    driver.on("before-call.elasticache.CreateReplicationGroup", lambda model, **_: sent.append(model.name))

    with pytest.raises(errors.InvalidRequest) as raised:
        driver.ensure_cache(CacheSpec(name="env-42-" + "x" * 40, node_type="cache.t4g.small"))

    assert raised.value.message == (
        f'"env-42-{"x" * 40}" cannot be used: ElastiCache replication group names are 1 to 40 characters long.'
    )
    assert sent == []


@pytest.mark.parametrize("provider", [Provider.AWS, Provider.AZURE])
def test_two_installations_never_claim_the_same_global_name(provider: str, settings: Any) -> None:
    first, second = (names_built(provider, installation, settings) for installation in INSTALLATIONS)
    # Unique across the whole cloud: buckets everywhere, and on Azure PostgreSQL servers, Redis caches and the
    # storage accounts behind the buckets.
    if provider == Provider.AZURE:
        first_global = {*first.databases, *first.caches, *first.buckets}
        second_global = {*second.databases, *second.caches, *second.buckets}
        first_global |= {storage_account_name(AZURE_SUBSCRIPTION, bucket) for bucket in first.buckets}
        second_global |= {storage_account_name(AZURE_SUBSCRIPTION, bucket) for bucket in second.buckets}
    else:
        first_global, second_global = set(first.buckets), set(second.buckets)

    assert first_global.isdisjoint(second_global)
    assert len(set(first.buckets)) == len(first.buckets), "no two buckets of one installation share a name"


def test_a_regions_iam_role_names_fit_iams_rule_and_no_two_installations_or_regions_share_one(settings: Any) -> None:
    built: list[str] = []
    for installation in INSTALLATIONS:
        settings.INSTALLATION_ID = installation
        for code in REGIONS["aws"]:
            built += [region_plan.role_name(code, suffix) for suffix in region_plan.AWS_ROLES.values()]

    assert [name for name in built if names.RULES["iam_role"].problem(name)] == []
    assert len(set(built)) == len(built) == len(INSTALLATIONS) * len(REGIONS["aws"]) * len(region_plan.AWS_ROLES)
